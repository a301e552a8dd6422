// Starts Swagger UI on /docs (api/docs.py) from the service's own copy, as a static script: the
// page's Content-Security-Policy allows no inline script. It asks nothing of any other host.
"use strict";

(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // No badge from the public validator.
    validatorUrl: null,
    // A token given under "Authorize" stays in this tab's memory, never in localStorage.
    persistAuthorization: false,
  });
})();
