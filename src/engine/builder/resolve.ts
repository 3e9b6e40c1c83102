// Resolving a build's base images (found here or pulled) and adding their ONBUILD triggers to the plan.
import { NotFound } from '../errors.ts'
import { DockerfileError } from './errors.ts'
import { parseInstruction } from './instructions.ts'
import { parse } from './parser.ts'
import {
  checkOrder,
  formatPlatform,
  hostPlatform,
  linkSources,
  reachable,
  type PlannedCommand,
} from './plan.ts'
import type { BaseImage } from './types.ts'
import { type BuilderDeps, type Run, missingImage } from './build-run.ts'

/**
 * Looks up the images the reachable stages start from or copy from, adds their ONBUILD
 * triggers, and returns the reachable stages in order (triggers can reach new stages).
 */
export async function resolveStages(
  deps: BuilderDeps,
  run: Run,
  platform: ReturnType<typeof hostPlatform>,
): Promise<number[]> {
  const { plan } = run
  const triggered = new Set<number>()
  for (;;) {
    const order = reachable(plan)
    checkOrder(plan, order)
    const refs = new Set<string>()
    for (const i of order) {
      const sp = plan.stages[i]!
      if (sp.base.kind === 'image') refs.add(sp.base.ref)
      for (const pc of sp.commands) {
        if (pc.from?.kind === 'image') refs.add(pc.from.ref)
        for (const m of pc.mountFrom ?? [])
          if (m?.kind === 'image' && m.ref !== 'scratch') refs.add(m.ref)
      }
    }
    await Promise.all(
      [...refs]
        .filter((r) => !run.images.has(r))
        .map(async (ref) => run.images.set(ref, await baseImage(deps, run, ref, platform))),
    )
    let added = false
    for (const i of order) {
      if (triggered.has(i)) continue
      triggered.add(i)
      const sp = plan.stages[i]!
      const triggers =
        sp.base.kind === 'image'
          ? (run.images.get(sp.base.ref)!.config.config?.OnBuild ?? [])
          : sp.base.kind === 'stage'
            ? plan.stages[sp.base.index]!.commands.flatMap((pc) =>
                pc.cmd.kind === 'onbuild' && !pc.onbuild ? [pc.cmd.expression] : [],
              )
            : []
      if (triggers.length === 0) continue
      const cmds: PlannedCommand[] = []
      for (const t of triggers) {
        const nodes = parse(t).nodes
        if (nodes.length !== 1)
          throw new DockerfileError('onbuild trigger should be a single expression')
        const node = { ...nodes[0]!, startLine: sp.stage.startLine, endLine: sp.stage.endLine }
        const cmd = parseInstruction(node)
        if ('commands' in cmd) throw new DockerfileError(`FROM isn't allowed as an ONBUILD trigger`)
        const pc: PlannedCommand = { cmd, onbuild: true }
        const byName = new Map(
          plan.stages.filter((s) => s.stage.name).map((s) => [s.stage.name, s.index]),
        )
        const before = sp.deps.size
        linkSources(pc, sp, plan.stages, byName)
        if (sp.deps.size !== before || pc.from?.kind === 'image') added = true
        cmds.push(pc)
      }
      sp.commands = [...cmds, ...sp.commands]
    }
    if (!added) return order
  }
}

async function baseImage(
  deps: BuilderDeps,
  run: Run,
  ref: string,
  platform: ReturnType<typeof hostPlatform>,
): Promise<BaseImage> {
  if (!run.opts.pull) {
    const found = await deps.images.find(ref)
    if (found) return found
  }
  const puller = deps.puller
  if (!puller) throw new NotFound(missingImage(ref))
  return puller.pull(
    ref,
    formatPlatform(platform),
    run.signal,
    (status) => run.emit({ type: 'pull', ref, status }),
    run.opts.registryAuth,
  )
}
