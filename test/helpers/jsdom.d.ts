/** The part of jsdom the ODK engine helper uses (@types/jsdom pulls the DOM lib into every file's types). */
declare module "jsdom" {
  export class JSDOM {
    constructor(html: string);
    readonly window: unknown;
  }
}
