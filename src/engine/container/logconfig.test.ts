import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import { checkLogConfig, fromHumanSize, logFileOptions } from './logconfig.ts'

// The words and checks are dockerd 20.10's (daemon/logger/jsonfilelog, daemon/logger/local),
// as it answered on this machine.
const refused = (lc: unknown, message: string): void => {
  assert.throws(
    () => checkLogConfig(lc),
    (err: unknown) => err instanceof InvalidArgument && err.message === message,
  )
}

describe('checkLogConfig', () => {
  test('an empty or missing Type is json-file, and the options are kept as given', () => {
    assert.deepEqual(checkLogConfig(undefined), { Type: 'json-file', Config: {} })
    assert.deepEqual(checkLogConfig({ Type: '', Config: null }), {
      Type: 'json-file',
      Config: {},
    })
    assert.deepEqual(checkLogConfig({ Type: 'local', Config: { 'max-size': '1k' } }), {
      Type: 'local',
      Config: { 'max-size': '1k' },
    })
  })

  test('unknown drivers and options are refused in Docker words', () => {
    refused({ Type: 'foo' }, 'error looking up logging plugin foo: plugin "foo" not found')
    refused(
      { Type: 'json-file', Config: { foo: 'bar' } },
      "unknown log opt 'foo' for json-file log driver",
    )
    refused(
      { Type: 'local', Config: { labels: 'x' } },
      "unknown log opt 'labels' for log driver local",
    )
  })

  test('the none driver takes any option (the API does; the CLI refuses them)', () => {
    assert.deepEqual(checkLogConfig({ Type: 'none', Config: { 'max-size': '1k' } }).Type, 'none')
  })

  test('bad values get the words dockerd fails the start with', () => {
    const f = 'failed to initialize logging driver: '
    refused({ Config: { 'max-size': '1z' } }, `${f}invalid size: '1z'`)
    refused({ Config: { 'max-size': '-1' } }, `${f}invalid size: '-1'`)
    refused({ Config: { 'max-size': '0' } }, `${f}max-size must be a positive number`)
    refused({ Config: { 'max-file': '0', 'max-size': '1k' } }, `${f}max-file cannot be less than 1`)
    refused({ Config: { 'max-file': 'x' } }, `${f}strconv.Atoi: parsing "x": invalid syntax`)
    refused(
      { Config: { compress: 'maybe' } },
      `${f}strconv.ParseBool: parsing "maybe": invalid syntax`,
    )
    refused(
      { Type: 'local', Config: { compress: 'maybe' } },
      `${f}error reading compress log option: strconv.ParseBool: parsing "maybe": invalid syntax`,
    )
    refused(
      { Type: 'local', Config: { 'max-file': '0' } },
      `${f}compression cannot be enabled when max file count is 1`,
    )
    refused(
      { Type: 'local', Config: { 'max-file': 'x' } },
      `${f}invalid value for max-file: x: strconv.Atoi: parsing "x": invalid syntax`,
    )
    refused(
      { Type: 'local', Config: { 'max-size': '-1' } },
      `${f}invalid value for max-size: -1: invalid size: '-1'`,
    )
  })
})

describe('logFileOptions', () => {
  test('json-file: no limit by default; max-file counts only with max-size', () => {
    assert.deepEqual(logFileOptions(checkLogConfig({})), { enabled: true, maxFiles: 1 })
    assert.deepEqual(logFileOptions(checkLogConfig({ Config: { 'max-file': '3' } })), {
      enabled: true,
      maxFiles: 1,
    })
    assert.deepEqual(
      logFileOptions(checkLogConfig({ Config: { 'max-size': '1.5kb', 'max-file': '3' } })),
      { enabled: true, maxSize: 1500, maxFiles: 3 },
    )
    assert.deepEqual(
      logFileOptions(
        checkLogConfig({ Config: { 'max-size': '1k', 'max-file': '2', compress: 'true' } }),
      ),
      { enabled: true, maxSize: 1000, maxFiles: 2, compress: true },
    )
  })

  test("local: Docker's defaults (20 MiB, 5 files, compressed); 0 is no limit", () => {
    assert.deepEqual(logFileOptions(checkLogConfig({ Type: 'local' })), {
      enabled: true,
      maxSize: 20 * 1024 * 1024,
      maxFiles: 5,
      compress: true,
    })
    assert.deepEqual(
      logFileOptions(checkLogConfig({ Type: 'local', Config: { compress: 'false' } })),
      { enabled: true, maxSize: 20 * 1024 * 1024, maxFiles: 5 },
    )
    assert.deepEqual(
      logFileOptions(checkLogConfig({ Type: 'local', Config: { 'max-size': '0' } })),
      { enabled: true, maxFiles: 1 },
    )
  })

  test('none writes nothing', () => {
    assert.deepEqual(logFileOptions(checkLogConfig({ Type: 'none' })), {
      enabled: false,
      maxFiles: 1,
    })
  })

  test('fromHumanSize is decimal, as go-units', () => {
    assert.equal(fromHumanSize('10'), 10)
    assert.equal(fromHumanSize('1k'), 1000)
    assert.equal(fromHumanSize('2MB'), 2_000_000)
    assert.equal(fromHumanSize('1.5 KiB'), 1500)
    assert.equal(fromHumanSize('1z'), undefined)
    assert.equal(fromHumanSize(''), undefined)
  })
})
