import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  imageNameFor,
  lossReport,
  pruneReport,
  shellWord,
  unsavedCell,
  type Unsaved,
} from './guard.ts'

const now = Date.parse('2026-12-07T10:00:00Z')

const u: Unsaved = {
  Id: 'a'.repeat(64),
  Name: 'My_Work',
  Unsaved: true,
  Size: 5_000_000,
  Files: 3,
  Deleted: 1,
  LastChange: '2026-12-07T09:57:00Z',
  Top: [
    { Path: '/results/run 1.bin', Size: 4_990_000 },
    { Path: '/root/.ash_history', Size: 10_000 },
  ],
  SavedIn: '',
  MeasuredAt: '2026-12-07T09:58:00Z',
  Current: true,
}

test('rm: what would be lost, the commands that keep it, and the trash when berthd keeps one', () => {
  assert.equal(
    lossReport(u, 86_400, now),
    'Container My_Work holds changes that are in no image or volume:\n' +
      '  5MB in 3 files, 1 file deleted, last changed 3 minutes ago\n' +
      '    4.99MB  /results/run 1.bin\n' +
      '      10kB  /root/.ash_history\n' +
      'To keep them, save them first:\n' +
      '  berth commit My_Work my_work-saved    (an image with the changes)\n' +
      "  berth cp 'My_Work:/results/run 1.bin' './run 1.bin'\n" +
      '  berth cp My_Work:/root/.ash_history ./.ash_history\n' +
      'berthd keeps removed containers for 24 hours: `berth container restore My_Work` brings it back.\n',
  )
  // No trash: no word of restoring.
  assert.doesNotMatch(lossReport(u, 0, now), /restore/)
})

test('the prunes: one line per container that would lose changes, nothing when none would', () => {
  assert.equal(
    pruneReport([u, { ...u, Name: 'saved', Unsaved: false, SavedIn: 'sha256:x' }], now),
    'This container holds changes that are in no image or volume:\n' +
      '  My_Work: 5MB in 3 files, 1 file deleted, last changed 3 minutes ago (/results/run 1.bin, /root/.ash_history)\n' +
      'Save them first with `berth commit CONTAINER IMAGE` or `berth cp CONTAINER:PATH DEST`.\n',
  )
  assert.equal(pruneReport([{ ...u, Unsaved: false }], now), '')
})

test('the ps cell, image names and shell words', () => {
  assert.equal(unsavedCell(u), '5MB')
  assert.equal(unsavedCell({ ...u, Unsaved: false }), '')
  assert.equal(unsavedCell(undefined), '')
  assert.equal(imageNameFor('--Weird..Name__'), 'weird-name-saved')
  assert.equal(imageNameFor('___'), 'container-saved')
  assert.equal(shellWord("it's"), `'it'\\''s'`)
  assert.equal(shellWord('a/b:c'), 'a/b:c')
})
