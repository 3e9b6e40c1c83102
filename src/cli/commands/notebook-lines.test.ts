import { test } from 'node:test'
import assert from 'node:assert/strict'
import { notebookURL, startedLines, tail, tokenIn } from './notebook-lines.ts'

// What Debian's jupyter-notebook (6.x) writes to its log once it listens.
const LOG = `[I 08:40:01.123 NotebookApp] Serving notebooks from local directory: /home
[I 08:40:01.124 NotebookApp] Jupyter Notebook 6.4.12 is running at:
[I 08:40:01.124 NotebookApp] http://3f2a9c1b7d4e:8889/?token=0123abcd4567ef89
[I 08:40:01.124 NotebookApp]  or http://127.0.0.1:8889/?token=0123abcd4567ef89
[C 08:40:01.127 NotebookApp]
    To access the notebook, open this file in a browser:
        file:///root/.local/share/jupyter/runtime/nbserver-1-open.html
`

test('the token is read from the URL Jupyter prints, and is absent until it does', () => {
  assert.equal(tokenIn(LOG), '0123abcd4567ef89')
  assert.equal(tokenIn(LOG.split('\n').slice(0, 2).join('\n')), undefined)
  assert.equal(tokenIn('see ?token=abc in the docs'), undefined)
  assert.equal(tokenIn('http://h:8888/tree?token=old\nhttp://h:8888/tree?token=new\n'), 'new')
})

test('berth notebook prints the URL on 127.0.0.1 and the ssh line for a laptop', () => {
  assert.equal(notebookURL('40123', 'ab'), 'http://127.0.0.1:40123/?token=ab')
  assert.equal(notebookURL('40123', undefined), 'http://127.0.0.1:40123/')
  assert.equal(
    startedLines('nb', '40123', 'ab', 'ana', 'lab1'),
    'Notebook nb is running: http://127.0.0.1:40123/?token=ab\n' +
      'It listens on 127.0.0.1 only. From a laptop, forward the port and open the URL there:\n' +
      '  ssh -N -L 40123:localhost:40123 ana@lab1\n',
  )
})

test('the tail of a log is its last lines', () => {
  assert.equal(tail('a\nb\nc\n', 2), 'b\nc')
})
