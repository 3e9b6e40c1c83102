#!/bin/sh
# Counts a visit in /data (the named volume) and answers with the count so far.
n=$(($(cat /data/visits 2>/dev/null || echo 0) + 1))
echo "$n" > /data/visits
printf 'Content-Type: text/plain\r\n\r\nvisits %s\n' "$n"
