"""A handler module that prints when imported: the print must not reach the protocol stdout."""

print("printed while importing the handler module")


def handle(task):
    return "imported quietly"
