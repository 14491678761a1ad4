/** Sent as the host's clientInfo.version to shared backends unless `clientInfo` is given. */
export const VERSION = '0.0.0';
