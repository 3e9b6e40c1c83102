// Constants the entry needs before it loads the API client.

/** The newest Engine API version berth speaks; it negotiates down to an older daemon's. */
export const API_VERSION = '1.45'
export const DEFAULT_SOCKET = '/run/berth/berth.sock'
