// Image events as dockerd emits them (daemon/images/image_events.go): the actor is the image's
// ID, its attributes the image's labels plus `name`. Which name each flow gives, checked against
// Docker 20.10:
//   tag       the new reference ("busybox:1")     untag, delete  the image ID
//   import    the image ID (after a tag event when tagged)
//   load      the image ID, once per image        save           the image ID, once per image
//   pull      actor and name are the reference ("busybox:latest"), not an ID
//   push      likewise
//   prune     no actor; attribute reclaimed (bytes)
// delete carries no labels: the image is gone when it is reported. The container events of a
// commit (pause, commit, unpause) are in commit.ts.
import type { EventSink } from '../events/types.ts'
import type { Image } from './types.ts'

export type ImageAction = 'tag' | 'untag' | 'delete' | 'import' | 'load' | 'save' | 'pull' | 'push'

/** Emits one image event; `image` gives the labels (absent once deleted). */
export function emitImageEvent(
  sink: EventSink | undefined,
  action: ImageAction,
  id: string,
  name: string,
  image?: Pick<Image, 'config'>,
): void {
  if (!sink) return
  sink.emit({
    Type: 'image',
    Action: action,
    Actor: { ID: id, Attributes: { ...(image?.config.config?.Labels ?? {}), name } },
  })
}

/** The event a prune ends with. */
export function emitImagePrune(sink: EventSink | undefined, reclaimed: number): void {
  sink?.emit({
    Type: 'image',
    Action: 'prune',
    Actor: { ID: '', Attributes: { reclaimed: String(reclaimed) } },
  })
}
