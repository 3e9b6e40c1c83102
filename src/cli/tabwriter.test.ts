import { test } from 'node:test'
import assert from 'node:assert/strict'
import { tabwrite } from './tabwriter.ts'

test('tabwriter pads columns to the widest cell plus padding, minimum width', () => {
  const got = tabwrite('CONTAINER ID\tIMAGE\tNAMES\nabc\tbb\tx\n', { minwidth: 10, padding: 3 })
  assert.equal(got, 'CONTAINER ID   IMAGE     NAMES\nabc            bb        x\n')
})

test('tabwriter: empty cells are padded, the last cell is not', () => {
  const got = tabwrite('A\tPORTS\tNAMES\n1\t\tn1\n', { minwidth: 10, padding: 3 })
  assert.equal(got, 'A         PORTS     NAMES\n1                   n1\n')
})

test('tabwriter: a line without tabs ends a column block', () => {
  const got = tabwrite('a\tb\nlonger-cell\tc\nplain\nx\ty\n', { minwidth: 0, padding: 1 })
  assert.equal(got, 'a           b\nlonger-cell c\nplain\nx y\n')
})
