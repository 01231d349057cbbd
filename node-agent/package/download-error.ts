// Why a download failed, as a reason the install step reports and a message that names no credentials.
import { ReasonedError } from '../../operator/lib/errors.ts';

export type DownloadFailureReason = 'NotFound' | 'HttpError' | 'TooLarge' | 'Timeout' | 'Network' | 'Proxy' | 'Redirect' | 'InvalidUrl' | 'Aborted' | 'FileSystem';

export interface DownloadErrorDetails {
  /** The HTTP status that failed it, if any. */
  status?: number;
  /** The URL that failed (the last hop after redirects), without credentials; set on what download.ts returns. */
  url?: string;
  cause?: unknown;
}

export class DownloadError extends ReasonedError<DownloadFailureReason> {
  readonly status: number | undefined;
  readonly url: string | undefined;
  constructor(reason: DownloadFailureReason, message: string, details: DownloadErrorDetails = {}) {
    super(reason, message, details.cause !== undefined ? { cause: details.cause } : undefined);
    this.name = 'DownloadError';
    this.status = details.status;
    this.url = details.url;
  }
}
