/**
 * A user error: the CLI prints its message alone, never a stack trace, and exits with `exitCode` (2: bad
 * input). Every layer may raise it, so it lives here, below them all.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = "UserError";
  }
}
