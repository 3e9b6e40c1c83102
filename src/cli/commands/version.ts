import { BUILD_TIME, GIT_COMMIT } from '../../lib/buildinfo.ts'
import os from 'node:os'
import type { CommandDef } from '../command.ts'
import { CliError, out, str } from '../command.ts'
import { API_VERSION } from '../client.ts'
import { render } from '../template/index.ts'
import { tabwrite } from '../tabwriter.ts'
import { goArch, goOS } from '../../lib/platform.ts'

const BERTH_VERSION = '0.1.0'

// docker's version template, with Node in place of Go (for berthd, which says "node vX")
const template = `Client:
 Version:\t{{.Client.Version}}
 API version:\t{{.Client.APIVersion}}{{if ne .Client.APIVersion .Client.DefaultAPIVersion}} (downgraded from {{.Client.DefaultAPIVersion}}){{end}}
 Node version:\t{{.Client.NodeVersion}}
 Git commit:\t{{.Client.GitCommit}}
 Built:\t{{.Client.BuildTime}}
 OS/Arch:\t{{.Client.Os}}/{{.Client.Arch}}
 Context:\t{{.Client.Context}}{{if .ServerOK}}

Server:{{if ne .Server.Platform.Name ""}} {{.Server.Platform.Name}}{{end}}
 {{- range $component := .Server.Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  API version:\t{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  {{- if index .Details "NodeVersion"}}
  Node version:\t{{index .Details "NodeVersion"}}
  {{- else}}
  Go version:\t{{index .Details "GoVersion"}}
  {{- end}}
  Git commit:\t{{index .Details "GitCommit"}}
  Built:\t{{index .Details "BuildTime"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:\t{{index .Details "Experimental"}}
  {{- else }}
  Version:\t{{$component.Version}}
  {{- range $key, $value := $component.Details}}
  {{$key}}:\t{{$value}}
  {{- end}}
  {{- end}}
 {{- end}}
{{- end}}`

/** docker's reformatDate: RFC 3339 to Go's time.ANSIC ("Mon Jan _2 15:04:05 2006"), local time. */
function ansic(s: string): string {
  const d = new Date(s)
  if (Number.isNaN(d.getTime())) return s
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
  const months = [
    'Jan',
    'Feb',
    'Mar',
    'Apr',
    'May',
    'Jun',
    'Jul',
    'Aug',
    'Sep',
    'Oct',
    'Nov',
    'Dec',
  ]
  const p = (n: number) => String(n).padStart(2, '0')
  return (
    `${days[d.getDay()]} ${months[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${d.getFullYear()}`
  )
}

interface ServerVersion {
  Platform?: { Name?: string }
  Components?: Array<{ Name: string; Version: string; Details?: Record<string, string> }>
  Version?: string
  ApiVersion?: string
  MinAPIVersion?: string
  GitCommit?: string
  GoVersion?: string
  Os?: string
  Arch?: string
  BuildTime?: string
  Experimental?: boolean
}

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'Show the berth version information',
  args: { max: 0 },
  flags: [
    {
      long: 'format',
      short: 'f',
      kind: 'string',
      desc: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates",
    },
  ],
  async run(ctx, f) {
    const data: Record<string, unknown> = {
      Client: {
        Version: BERTH_VERSION,
        APIVersion: API_VERSION,
        DefaultAPIVersion: API_VERSION,
        NodeVersion: process.version,
        Os: goOS(os.platform()),
        Arch: goArch(os.arch()),
      },
      Server: null,
      ServerOK: false,
    }
    Object.assign(data.Client as Record<string, unknown>, {
      GitCommit: GIT_COMMIT,
      BuildTime: BUILD_TIME === '' ? '' : ansic(BUILD_TIME),
      Context: 'default',
    })
    let serverErr: Error | undefined
    try {
      const client = await ctx.client()
      const v = await client.json<ServerVersion>('GET', '/version')
      ;(data.Client as Record<string, unknown>).APIVersion = client.version
      if (!v.Components || v.Components.length === 0) {
        // old daemons report the engine only at the top level
        v.Components = [
          {
            Name: 'Engine',
            Version: v.Version ?? '',
            Details: {
              ApiVersion: v.ApiVersion ?? '',
              MinAPIVersion: v.MinAPIVersion ?? '',
              GitCommit: v.GitCommit ?? '',
              GoVersion: v.GoVersion ?? '',
              Os: v.Os ?? '',
              Arch: v.Arch ?? '',
              BuildTime: v.BuildTime ?? '',
              Experimental: String(v.Experimental ?? false),
            },
          },
        ]
      }
      for (const c of v.Components) {
        if (c.Details?.BuildTime) c.Details.BuildTime = ansic(c.Details.BuildTime)
        // berthd reports its runtime as GoVersion "node vX"; say so in Node's words
        const go = c.Details?.GoVersion ?? ''
        if (go.startsWith('node ')) c.Details!.NodeVersion = go.slice('node '.length)
      }
      v.Platform ??= { Name: '' }
      v.Platform.Name ??= ''
      data.Server = v
      data.ServerOK = true
    } catch (e) {
      serverErr = e as Error
    }
    const format = str(f, 'format')
    if (format) {
      out(render(format === 'json' ? '{{json .}}' : format, data) + '\n')
    } else {
      out(tabwrite(render(template, data) + '\n', { minwidth: 20, padding: 1 }))
    }
    if (serverErr) throw new CliError(serverErr.message)
    return 0
  },
}
