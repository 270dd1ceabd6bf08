// Starts Swagger UI on /api/docs (a file, not an inline script: the CSP allows only 'self' scripts).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
