/**
 * A start-up configuration problem. Its message is one line that names the variable and
 * never contains the variable's value (it may be a secret).
 */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`Configuration error: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}
