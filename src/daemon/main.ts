// berthd's entry point: the real engine, wired by wire.ts, run by daemonMain.
import './memory.ts'
import { createEngine } from './wire.ts'
import { daemonMain } from './run.ts'

void daemonMain(process.argv.slice(2), createEngine)
