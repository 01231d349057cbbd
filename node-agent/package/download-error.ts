// Why a download failed, as a reason the install step reports and a message that names no credentials.
export type DownloadFailureReason = 'NotFound' | 'HttpError' | 'TooLarge' | 'Timeout' | 'Network' | 'Proxy' | 'Redirect' | 'InvalidUrl' | 'Aborted' | 'FileSystem';

export class DownloadError extends Error {
  readonly reason: DownloadFailureReason;
  readonly status: number | undefined;
  constructor(reason: DownloadFailureReason, message: string, status?: number) {
    super(message);
    this.name = 'DownloadError';
    this.reason = reason;
    this.status = status;
  }
}
