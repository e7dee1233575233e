/**
 * How much of a run's output the append-only audit log records: everything up to the run's log limit,
 * then one event saying the limit was reached, then nothing more (logs.jsonl keeps the newest output).
 */
export class OutputBudget {
  private over: boolean;

  /**
   * `alreadyOver`: a resumed run whose output had passed the limit before. `used`: what a resumed run's
   * audit log already holds (its size is an upper bound of the console bytes in it).
   */
  constructor(
    private readonly limit: number,
    alreadyOver = false,
    private used = 0,
  ) {
    this.over = alreadyOver;
  }

  /** Account for one entry of about `bytes`: 'record' it, the limit was just 'reached', or it is 'over'. */
  take(bytes: number): 'record' | 'reached' | 'over' {
    if (this.over) return 'over';
    this.used += bytes;
    if (this.used <= this.limit) return 'record';
    this.over = true;
    return 'reached';
  }
}
