/** A minimal event emitter: `on`, `off`, `emit`. A throwing listener does not stop the others. */
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<(value: any) => void>>} */
    this.listeners = new Map();
  }

  /**
   * @param {string} event
   * @param {(value: any) => void} listener
   */
  on(event, listener) {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
  }

  /**
   * @param {string} event
   * @param {(value: any) => void} listener
   */
  off(event, listener) {
    this.listeners.get(event)?.delete(listener);
  }

  /**
   * @param {string} event
   * @param {unknown} value
   * @returns {boolean} whether anyone listened
   */
  emit(event, value) {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return false;
    for (const listener of [...set]) {
      try {
        listener(value);
      } catch (err) {
        // A listener's bug must not break the client: report it asynchronously.
        setTimeout(() => {
          throw err;
        });
      }
    }
    return true;
  }
}
