/**
 * The gateways to connect to, with weights. Each attempt picks at random, in
 * proportion to weight, among the servers that have not failed in the current
 * round; a failure moves on to the others; once all have failed a new round starts.
 */
export declare class ServerList {
    /** @type {{ url: string, weight: number }[]} */
    servers: {
        url: string;
        weight: number;
    }[];
    random: () => number;
    /** @type {Set<string>} urls that failed in this round */
    failed: Set<string>;
    /**
     * @param {Array<string | { url: string, weight?: number }>} servers
     * @param {() => number} random uniform in [0, 1)
     */
    constructor(servers: Array<string | {
        url: string;
        weight?: number;
    }>, random: () => number);
    /** @returns {string} the url of the next attempt */
    pick(): string;
    /** @param {string} url a connection to it failed or was lost */
    failedOn(url: string): void;
    /** @returns {boolean} whether every server failed in this round */
    roundFailed(): boolean;
    /** A connection opened: the next failure starts a fresh round. */
    succeeded(): void;
}
