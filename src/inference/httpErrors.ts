import type http from "node:http";

/** An answer the proxy gives itself: a status and the reason, in the client's dialect. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function errorBody(openai: boolean, message: string, status: number): string {
  if (!openai) return JSON.stringify({ error: message });
  const type = status === 401 ? "authentication_error" : status < 500 ? "invalid_request_error" : "api_error";
  return JSON.stringify({ error: { message, type, param: null, code: null } });
}

export function sendError(res: http.ServerResponse, openai: boolean, status: number, message: string): number {
  if (res.headersSent) {
    res.end();
    return status;
  }
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  res.end(errorBody(openai, message, status));
  return status;
}
