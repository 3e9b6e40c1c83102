// What `npm run build` stamps into the bundle (scripts/build.mjs defines these names); running
// from source (tsx), they are unknown, as docker's own dev builds say.
declare const BERTH_GIT_COMMIT: string | undefined
declare const BERTH_BUILD_TIME: string | undefined

export const BERTH_VERSION = '0.1.0'
export const GIT_COMMIT = typeof BERTH_GIT_COMMIT === 'string' ? BERTH_GIT_COMMIT : 'unknown'
/** RFC 3339, as docker's BuildTime */
export const BUILD_TIME = typeof BERTH_BUILD_TIME === 'string' ? BERTH_BUILD_TIME : ''
