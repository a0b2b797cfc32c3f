/** Entry of a service host process: the production registry of services. See run.ts. */
import { loadService } from "../../services/registry.js";
import { runHost } from "./run.js";

runHost(loadService);
