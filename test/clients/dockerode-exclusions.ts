// The tests of dockerode's own suite (apocas/dockerode, test/*.js) that test/clients/dockerode.test.ts
// does not run, against either engine, and why. The same list holds for berthd and for Debian's
// dockerd: a test is left out only for a reason that has nothing to do with the engine under test.

export interface Exclusion {
  /** The upstream file and the test's title, as mocha prints it. */
  file: string
  title: string
  reason: string
}

const HUB = 'needs Docker Hub, which CI cannot reach (only npm and Debian are reachable)'
const CLIENT = 'a unit test of dockerode itself: no request reaches an engine'
const SWARM = 'swarm mode: neither berth nor a single-node test dockerd runs a swarm'
const BUILDKIT = "BuildKit (the build API's version=2 session): berth builds with its own builder"

const each = (file: string, titles: string[], reason: string): Exclusion[] =>
  titles.map((title) => ({ file, title, reason }))

export const EXCLUDED: readonly Exclusion[] = [
  ...each(
    'docker.js',
    [
      '#constructors should work without options',
      '#constructors should use specific cert',
      '#constructors should not send Promise options to docker-modem',
    ],
    CLIENT,
  ),
  ...each('docker.js', ['#buildImage should build image with buildKit'], BUILDKIT),
  ...each(
    'docker.js',
    ['#searchImages should return search results'],
    `${HUB} (GET /images/search asks Docker Hub's index)`,
  ),
  ...each(
    'container.js',
    [
      '#checkpoints should create container checkpoint',
      '#checkpoints should list containers checkpoints',
    ],
    'experimental checkpoints (CRIU); upstream skips them too unless EXPERIMENTAL is set',
  ),
  ...each(
    'plugin.js',
    [
      '#install should get plugin privileges',
      '#install should pull a plugin',
      '#install should enable a plugin',
      '#install should disable a plugin',
      '#install should remove a plugin',
    ],
    `${HUB} (the plugin vieux/sshfs is pulled from it)`,
  ),
  ...each(
    'swarm.js',
    [
      '#initSwarm should init swarm',
      '#initSwarm should inspect swarm',
      '#Secrets should list secrets',
      '#Secrets should create secret',
      '#Secrets should inspect secret',
      '#Secrets should update secret',
      '#Secrets should delete secret',
      '#Configs should create config',
      '#Configs should list configs',
      '#Configs should inspect config',
      '#Configs should update config',
      '#Configs should delete config',
      '#Services should create service',
      '#Services should list services',
      '#Services should list services using promises',
      '#Services should inspect service',
      '#Services should update service',
      '#Services should get the logs for a service as a stream',
      '#Services should delete service',
      '#tasks #listTasks should list tasks',
      '#tasks #listTasks should inspect task',
      '#nodes #listNodes should list nodes',
      '#nodes #listNodes should inspect node',
      '#nodes #listNodes should remove node',
      '#leaveSwarm should leave swarm',
    ],
    SWARM,
  ),
  ...each(
    'buildkit_test.js',
    [
      'stream handling should handle incomplete lines across chunks',
      'stream handling should handle chunk ending mid-line',
      'stream handling should handle BuildKit messages split across chunks',
      'stream handling should decode real BuildKit base64 protobuf messages',
      'stream handling should ignore empty lines',
      'stream handling should process final buffered data on stream end',
      'stream handling should work without onProgress callback',
    ],
    CLIENT,
  ),
  ...each('buildkit_test.js', ['integration should follow BuildKit build progress'], BUILDKIT),
  ...each(
    'util.js',
    [
      '#parseRepositoryTag (7 cases)',
      '.extend accepts multiple object arguments',
      '.prepareBuildContext should pass the options through when there is no context',
      '.prepareBuildContext bundle the context and source as a single tar.gz stream',
    ],
    CLIENT,
  ),
]
