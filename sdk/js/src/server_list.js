/**
 * The gateways to connect to, with weights. Each attempt picks at random, in
 * proportion to weight, among the servers that have not failed in the current
 * round; a failure moves on to the others; once all have failed a new round starts.
 */
export class ServerList {
  /**
   * @param {Array<string | { url: string, weight?: number }>} servers
   * @param {() => number} random uniform in [0, 1)
   */
  constructor(servers, random) {
    /** @type {{ url: string, weight: number }[]} */
    this.servers = servers.map((s) =>
      typeof s === 'string' ? { url: s, weight: 1 } : { url: s.url, weight: s.weight ?? 1 },
    );
    this.random = random;
    /** @type {Set<string>} urls that failed in this round */
    this.failed = new Set();
  }

  /** @returns {string} the url of the next attempt */
  pick() {
    let candidates = this.servers.filter((s) => !this.failed.has(s.url));
    if (candidates.length === 0) {
      this.failed.clear();
      candidates = this.servers;
    }
    const total = candidates.reduce((sum, s) => sum + s.weight, 0);
    let point = this.random() * total;
    for (const s of candidates) {
      point -= s.weight;
      if (point < 0) return s.url;
    }
    return candidates[candidates.length - 1].url;
  }

  /** @param {string} url a connection to it failed or was lost */
  failedOn(url) {
    this.failed.add(url);
  }

  /** @returns {boolean} whether every server failed in this round */
  roundFailed() {
    return this.servers.every((s) => this.failed.has(s.url));
  }

  /** A connection opened: the next failure starts a fresh round. */
  succeeded() {
    this.failed.clear();
  }
}
