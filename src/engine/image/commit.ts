// docker commit, on the image side (moby's CommitImage and NewChildImage): the container's
// changes, as a layer tar its side produces, go through the ingest path while the container is
// frozen (when asked), then a child config of the container's image is recorded. The container
// side supplies what it knows (config, the diff, event attributes) and the runtime's pause and
// resume through Freezer.
import type { Digest } from '../digest.ts'
import type { EventSink } from '../events/types.ts'
import { faultPoint } from '../fault.ts'
import { emitImageEvent } from './events.ts'
import { hostPlatform, MEDIA, type Platform } from './manifest.ts'
import { parseTag } from './tags.ts'
import { applyChanges } from './changes.ts'
import type {
  CommitRequest,
  Freezer,
  HistoryEntry,
  Image,
  ImageCommit,
  ImageConfig,
  ImageCreator,
  ImageReader,
  ImageRunConfig,
  LayerDescriptor,
  LayerIngest,
} from './types.ts'

export type { CommitRequest, Freezer }

export interface ImageCommitterDeps {
  images: ImageReader & ImageCreator
  ingest: LayerIngest
  freezer: Freezer
  events?: EventSink
  /** The host's platform, for an image whose parent is gone or names no architecture. */
  platform?: Platform
}

/** The diffID of an empty tar (1024 zero bytes): no layer is added for it, as in Docker. */
const EMPTY_LAYER: Digest =
  'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef'

export class ImageCommitter implements ImageCommit {
  private readonly platform: Platform

  constructor(private readonly deps: ImageCommitterDeps) {
    this.platform = deps.platform ?? hostPlatform()
  }

  applyChanges(base: ImageRunConfig, changes: string[]): ImageRunConfig {
    return applyChanges(base, changes)
  }

  async commit(req: CommitRequest): Promise<Image> {
    const { images, ingest, freezer } = this.deps
    const c = req.container
    const parent = await images.get(c.image)
    const tag = req.repo ? parseTag(`${req.repo}:${req.tag || 'latest'}`) : undefined

    // Take the layer: the container is frozen meanwhile when asked, and always thawed after.
    const pause = req.pause && freezer.available !== false
    if (pause) {
      await freezer.pause(c.id)
      this.containerEvent(c, 'pause')
      faultPoint('commit.paused')
    }
    // Paused until the image and its events are out, as dockerd: pause, tag, commit, unpause.
    let image: Image
    try {
      // Stored as Docker's own store keeps layers: the plain tar (its blob digest is the diffID).
      const { size: _size, ...layer } = await ingest.writeLayer({
        tar: await req.diff(),
        compression: 'none',
        mediaType: MEDIA.dockerLayer.none,
      })

      // An empty diff adds no layer, only a history step (as Docker's commit).
      const empty = layer.diffID === EMPTY_LAYER
      const parentLayers: LayerDescriptor[] = parent?.layers ?? []
      const layers = empty ? parentLayers : [...parentLayers, layer]
      const config = this.childConfig(parent, req, layers, empty)
      faultPoint('commit.before-record')
      image = await images.create({
        config,
        layers,
        tags: tag ? [tag.familiar] : [],
        ...(parent ? { parent: parent.id } : {}),
      })
      if (tag) emitImageEvent(this.deps.events, 'tag', image.id, tag.familiar, image)
      this.containerEvent(c, 'commit', {
        comment: req.comment ?? '',
        imageID: image.id,
        imageRef: tag?.familiar ?? '',
      })
    } finally {
      if (pause) {
        await freezer.resume(c.id)
        this.containerEvent(c, 'unpause')
      }
    }
    return image
  }

  /** moby's NewChildImage: the parent's config with the container's run config and a step. */
  private childConfig(
    parent: Image | undefined,
    req: CommitRequest,
    layers: LayerDescriptor[],
    empty: boolean,
  ): ImageConfig {
    const created = new Date().toISOString()
    const base = parent?.config
    const history: HistoryEntry[] = [
      ...(base?.history ?? []),
      {
        created,
        created_by: (req.container.config.Cmd ?? []).join(' '),
        ...(req.author ? { author: req.author } : {}),
        ...(req.comment ? { comment: req.comment } : {}),
        ...(empty ? { empty_layer: true } : {}),
      },
    ]
    return {
      // The parent's architecture, or the host's when it names none (BaseImgArch).
      architecture: base?.architecture || this.platform.architecture,
      os: base?.os || this.platform.os,
      ...(base?.variant ? { variant: base.variant } : {}),
      created,
      ...(req.author ? { author: req.author } : {}),
      ...(req.comment ? { comment: req.comment } : {}),
      config: req.config,
      container: req.container.id,
      container_config: req.container.config,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
      history,
    }
  }

  private containerEvent(
    c: CommitRequest['container'],
    action: string,
    extra: Record<string, string> = {},
  ): void {
    this.deps.events?.emit({
      Type: 'container',
      Action: action,
      Actor: { ID: c.id, Attributes: { ...c.eventAttributes, ...extra } },
    })
  }
}
