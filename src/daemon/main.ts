// berthd's entry point: the real engine, wired by wire.ts, run by daemonMain.
import { setFlagsFromString } from 'node:v8'
import { createEngine } from './wire.ts'
import { daemonMain } from './run.ts'

// A pull streams hundreds of MB through short-lived buffers, and V8 would grow its young
// generation from 2 to 32 MB for them, which made a third of berthd's memory peak during a
// pull (bench pull-rss) and bought no speed: keep it at its starting size.
setFlagsFromString('--semi-space-growth-factor=1')

void daemonMain(process.argv.slice(2), createEngine)
