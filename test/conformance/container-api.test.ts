// The container side held to one suite: the engine berthd runs (runc, conmon, overlayfs) and
// the fakes the API tests use (src/api/testing.ts).
import { containerApiSuite } from './container-api.ts'
import { fakeEngine, realEngine } from './engines.ts'

containerApiSuite('the engine berthd runs', realEngine)
containerApiSuite('the in-memory fakes', fakeEngine)
