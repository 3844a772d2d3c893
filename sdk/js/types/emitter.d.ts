/** A minimal event emitter: `on`, `off`, `emit`. A throwing listener does not stop the others. */
export declare class Emitter {
    /** @type {Map<string, Set<(value: any) => void>>} */
    listeners: Map<string, Set<(value: any) => void>>;
    constructor();
    /**
     * @param {string} event
     * @param {(value: any) => void} listener
     */
    on(event: string, listener: (value: any) => void): void;
    /**
     * @param {string} event
     * @param {(value: any) => void} listener
     */
    off(event: string, listener: (value: any) => void): void;
    /**
     * @param {string} event
     * @param {unknown} value
     * @returns {boolean} whether anyone listened
     */
    emit(event: string, value: unknown): boolean;
}
