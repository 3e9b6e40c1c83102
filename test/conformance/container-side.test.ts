// exec, lifecycle and files held to one suite on the real engine and the fakes.
import { containerSideSuite } from './container-side.ts'
import { fakeEngine, realEngine } from './engines.ts'

containerSideSuite('the engine berthd runs', realEngine)
containerSideSuite('the in-memory fakes', fakeEngine)
