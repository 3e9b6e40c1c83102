// berthd's memory settings, imported first by main.ts so that they hold before the rest of the
// daemon's modules load (loading them is where V8 grew its young generation and glibc made
// arenas for threads).
import { setFlagsFromString } from 'node:v8'
import { setArenaMax } from '../engine/sys/libc.ts'

// A pull streams hundreds of MB through short-lived buffers, and V8 would grow its young
// generation from 2 to 32 MB for them, which made a third of berthd's memory peak during a
// pull (bench pull-rss) and bought no speed: keep it at its starting size.
setFlagsFromString('--semi-space-growth-factor=1')

// glibc gives each new thread that mallocs an arena of its own (up to 16 on this machine), and
// memory freed into an arena stays resident until that arena's top is free: libuv's pool
// inflating layers and the unpack thread held some 6 MiB so at a pull's peak (VmHWM median
// 143 -> 137 MiB over six cold pulls, CPU per pull unchanged). Arenas made before this line
// (V8's platform threads) stay.
setArenaMax(2)
