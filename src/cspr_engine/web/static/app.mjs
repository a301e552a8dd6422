// GOV.UK Frontend's components (error summary focus, radios with conditional parts, tabs),
// started once the page has parsed. The pages work without it: forms post back to the server.
import { initAll } from "./build/govuk-frontend.min.js";

document.body.classList.add("govuk-frontend-supported");
initAll();
