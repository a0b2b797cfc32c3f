/**
 * Permission checks in the browser: the kit's own matcher, bundled. They only decide what the console shows;
 * the gateway enforces every permission again on each request.
 */
export { hasPermission as can } from "../../kit/access";
