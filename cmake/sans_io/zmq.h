// Seen only by the sans-IO targets (broker::Core, the client sessions, the sans-IO half of
// common/): they decide, the socket shells move bytes. A socket type reaching this code would let
// a decision depend on I/O again and untestable without sockets, so the build refuses it here.
#error \
    "sans-IO code must not include ZeroMQ: move the socket work to the shell (see cmake/ConveyorTargets.cmake)"
