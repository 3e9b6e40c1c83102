// berthd with an in-memory engine, for tests that run the daemon as a process.
import { fakeEngine } from '../../api/testing.ts'
import { daemonMain } from '../run.ts'

void daemonMain(process.argv.slice(2), async ({ dataRoot, logger }) => {
  logger.debug('fake engine', { dataRoot })
  return fakeEngine([], dataRoot)
})
