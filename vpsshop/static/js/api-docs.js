// Starts Swagger UI (served by the app from the flask-swagger-ui package) on /api/docs.
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // Tokens typed into "Authorize" stay in this tab only.
    persistAuthorization: false,
  });
})();
