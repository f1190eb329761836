// A "Print" button on printable pages (reports, receipts): inline handlers are barred by the CSP.
document.querySelectorAll("[data-print]").forEach((button) => button.addEventListener("click", () => window.print()));
