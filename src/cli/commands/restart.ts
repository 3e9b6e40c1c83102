import type { CommandDef } from '../command.ts'
import { stopLike } from './stop.ts'

export const command: CommandDef = stopLike('restart', 'Restart one or more containers')
