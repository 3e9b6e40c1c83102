import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { formatRows, render, STRUCT } from './index.ts'

const data = {
  Name: 'web',
  Id: 'abc',
  Config: { Env: ['A=1', 'B=2'], Labels: { z: '1', a: '2' }, Tty: false, Cmd: null },
  State: { Status: 'exited', ExitCode: 3, Running: false },
  Mounts: [],
  Count: 2,
}

describe('render', () => {
  const cases: Array<[string, string]> = [
    ['{{.Name}}', 'web'],
    ['{{.Config.Env}}', '[A=1 B=2]'],
    ['{{json .Config.Env}}', '["A=1","B=2"]'],
    ['{{json .State}}', '{"Status":"exited","ExitCode":3,"Running":false}'],
    ['{{.Config.Labels}}', 'map[a:2 z:1]'],
    ['{{.Config.Cmd}}', '<nil>'],
    ['{{.Missing}}', '<no value>'],
    ['{{range .Config.Env}}[{{.}}]{{end}}', '[A=1][B=2]'],
    ['{{range $i, $e := .Config.Env}}{{$i}}={{$e}};{{end}}', '0=A=1;1=B=2;'],
    ['{{range $k, $v := .Config.Labels}}{{$k}}{{$v}} {{end}}', 'a2 z1 '],
    ['{{range .Mounts}}x{{else}}none{{end}}', 'none'],
    ['{{if .State.Running}}up{{else}}down{{end}}', 'down'],
    ['{{if eq .State.ExitCode 3}}three{{else if eq .State.ExitCode 0}}zero{{end}}', 'three'],
    ['{{with .State}}{{.Status}}{{end}}', 'exited'],
    ['{{.Name | upper}}', 'WEB'],
    ['{{upper .Name | lower}}', 'web'],
    ['{{join .Config.Env ","}}', 'A=1,B=2'],
    ['{{split "a:b:c" ":"}}', '[a b c]'],
    ['{{index .Config.Labels "a"}}', '2'],
    ['{{index .Config.Labels "nope"}}', ''],
    ['{{index .Config.Env 1}}', 'B=2'],
    ['{{len .Config.Env}}', '2'],
    ['{{title "hello world"}}', 'Hello World'],
    ['{{truncate .Name 2}}', 'we'],
    ['{{pad .Name 1 2}}', ' web  '],
    ['{{printf "%s-%d" .Name .Count}}', 'web-2'],
    ['{{printf "%-5s|" .Name}}', 'web  |'],
    ['{{println .Name .Count}}', 'web 2\n'],
    ['{{and .Name .Count}}', '2'],
    ['{{or .Missing "dflt"}}', 'dflt'],
    ['{{not .State.Running}}', 'true'],
    ['{{if and (gt .Count 1) (lt .Count 3)}}ok{{end}}', 'ok'],
    ['{{ne .Name "x"}}', 'true'],
    ['a  {{- .Name -}}  b', 'awebb'],
    ['{{/* comment */}}x', 'x'],
    ['{{$n := .Name}}{{$n}}{{$n = "z"}}{{$n}}', 'webz'],
    ['{{(index .Config.Env 0) | lower}}', 'a=1'],
    ['{{"quoted\\tstring"}}', 'quoted\tstring'],
    ['{{range .Config.Env}}{{if eq . "B=2"}}{{break}}{{end}}{{.}}{{end}}', 'A=1'],
    ['{{.State.Status}}{{"\\n"}}', 'exited\n'],
  ]
  for (const [tmpl, want] of cases) {
    test(tmpl, () => assert.equal(render(tmpl, data), want))
  }
  test('errors', () => {
    assert.throws(() => render('{{.Name', data), /unclosed action/)
    assert.throws(() => render('{{if .Name}}x', data), /unexpected EOF/)
    assert.throws(() => render('{{nofunc .Name}}', data), /function "nofunc" not defined/)
    assert.throws(() => render('{{.Config.Cmd.X}}', data), /nil pointer evaluating/)
    const ctx = { [STRUCT]: '*formatter.ContainerContext', ID: () => 'x' }
    assert.throws(
      () => render('{{.Nope}}', ctx),
      /can't evaluate field Nope in type \*formatter.ContainerContext/,
    )
  })
})

describe('formatRows', () => {
  const rows = [
    {
      [STRUCT]: 'ctx',
      ID: () => 'abc',
      Names: () => 'first',
      Label: (k: unknown) => `L${String(k)}`,
    },
    {
      [STRUCT]: 'ctx',
      ID: () => 'defghijklmnop',
      Names: () => 'second',
      Label: (k: unknown) => `L${String(k)}`,
    },
  ]
  const header = { ID: 'CONTAINER ID', Names: 'NAMES' }
  test('table with header and docker padding', () => {
    assert.equal(
      formatRows('table {{.ID}}\\t{{.Names}}', rows, header),
      'CONTAINER ID    NAMES\nabc             first\ndefghijklmnop   second\n',
    )
  })
  test('plain template, one line per row', () => {
    assert.equal(
      formatRows('{{.ID}}: {{.Names}}', rows, header),
      'abc: first\ndefghijklmnop: second\n',
    )
  })
  test('json', () => {
    assert.equal(formatRows('json', rows.slice(0, 1), header), '{"ID":"abc","Names":"first"}\n')
  })
  test('methods with arguments', () => {
    assert.equal(formatRows('{{.Label "x"}}', rows.slice(0, 1), header), 'Lx\n')
  })
})
