#!/bin/sh
# A pipe: worker that answers each task with its payload as output, for measuring the consumer's
# side of the pipe: protocol (bench/callgrind.sh, HANDLER=pipe:bench/echo-worker.sh). It takes
# payloads without quotes or backslashes, as gen: makes them; sed costs the consumer nothing.
exec sed -u -E 's/^\{"id":"([^"]*)".*"payload":"([^"]*)".*$/{"id":"\1","output":"\2"}/'
