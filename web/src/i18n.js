// French first (the users are French), English on request; the choice is kept in localStorage.
const KEY = "ocsge.lang";

const TEXTS = {
  fr: {
    "nav.map": "Carte", "nav.dashboard": "Artificialisation", "nav.segmentation": "Segmentation",
    "nav.jobs": "Traitements", "nav.api": "API",
    "map.layer": "Couche", "map.couverture": "Couverture du sol", "map.usage": "Usage du sol",
    "map.segmentation": "Segmentation (couverture prédite)", "popup.run": "Exécution",
    "map.millesime": "Millésime", "map.legend": "Légende", "map.legend.none": "Aucune classe dans la vue",
    "map.partial": "Affichage partiel (trop de polygones dans la vue) : zoomez pour tout voir.",
    "search.label": "Territoire", "search.placeholder": "Commune, EPCI, SCoT, région, département",
    "search.none": "Aucun territoire trouvé", "search.epci": "EPCI",
    "search.departement": "Département", "search.scot": "SCoT", "search.region": "Région",
    "popup.code_cs": "Couverture", "popup.code_us": "Usage", "popup.millesime": "Millésime", "popup.id": "Identifiant",
    "dash.title": "Artificialisation des sols",
    "dash.choose": "Cherchez un territoire ci-dessus, ou ouvrez un des exemples ci-dessous.",
    "dash.overview": "Département {code} : {n} communes", "dash.overview.note": "Somme des communes que le serveur détient, {a}\u00a0→\u00a0{b}.",
    "dash.open_departement": "Voir le détail du département {code}",
    "dash.examples": "Exemples à ouvrir, les plus artificialisés de {a} à {b} d'abord",
    "dash.example": "{artif} ha artificialisés", "dash.example.rate": "taux {rate}\u00a0%", "dash.example.communes": "{n} communes",
    "dash.nodata": "Aucun indicateur calculé pour ces millésimes.",
    "dash.millesimes": "Millésimes", "dash.loading": "Calcul en cours…",
    "dash.rate": "Taux d'artificialisation", "dash.area": "Surface artificialisée", "dash.surface": "Surface du territoire",
    "dash.artif": "Artificialisation", "dash.desartif": "Désartificialisation", "dash.net": "Artificialisation nette",
    "dash.gap": "Écart de cohérence", "dash.nostock": "Stock non calculé", "dash.csv": "Télécharger le tableau (CSV)",
    "dash.imper_rate": "Taux d'imperméabilisation", "dash.imper_area": "Surface imperméabilisée",
    "dash.imper": "Imperméabilisation", "dash.desimper": "Désimperméabilisation", "dash.imper_net": "Imperméabilisation nette",
    "dash.imper_flows": "Flux d'imperméabilisation", "dash.sealed": "dont imperméabilisée",
    "dash.by_category": "Par catégorie du décret", "dash.by_cs": "Par couverture (CS)", "dash.by_us": "Par usage (US)",
    "dash.flows": "Flux entre millésimes", "dash.transitions": "Principales transitions",
    "dash.before": "CS / US avant", "dash.after": "CS / US après",
    "dash.total": "surface", "dash.artificial": "dont artificialisée", "dash.communes": "Communes",
    "dash.commune": "Commune", "dash.error": "Erreur du serveur",
    "seg.title": "Segmentation d'orthophoto", "seg.mode": "Image", "seg.bbox": "Emprise sur la carte (WMS)",
    "seg.upload": "Fichier GeoTIFF", "seg.rgb": "Orthophoto RVB (GeoTIFF)", "seg.irc": "Orthophoto IRC (facultatif)",
    "seg.draw": "Tracer l'emprise sur la carte", "seg.draw.help": "Deux clics sur la carte : deux coins opposés de l'emprise.", "seg.opacity": "Opacité du résultat", "seg.run": "Lancer la segmentation",
    "seg.status": "État", "seg.done": "Terminé : couche ajoutée à la carte", "seg.failed": "Échec",
    "seg.nobbox": "Tracez d'abord une emprise", "seg.zoom": "L'orthophoto s'affiche à partir du zoom {zoom} : zoomez sur la zone à segmenter.", "seg.nofile": "Choisissez un fichier", "seg.wms": "Service WMS",
    "jobs.title": "Traitements", "jobs.id": "Identifiant", "jobs.process": "Processus", "jobs.status": "État",
    "jobs.progress": "Avancement", "jobs.message": "Message", "jobs.started": "Début", "jobs.duration": "Durée",
    "jobs.actions": "Actions", "jobs.cancel": "Annuler", "jobs.results": "Résultats", "jobs.none": "Aucun traitement",
    "status.accepted": "en attente", "status.running": "en cours", "status.successful": "terminé",
    "status.failed": "échec", "status.dismissed": "annulé",
    "missing": "non calculé",
  },
  en: {
    "nav.map": "Map", "nav.dashboard": "Artificialisation", "nav.segmentation": "Segmentation",
    "nav.jobs": "Jobs", "nav.api": "API",
    "map.layer": "Layer", "map.couverture": "Land cover", "map.usage": "Land use",
    "map.segmentation": "Segmentation (predicted cover)", "popup.run": "Run",
    "map.millesime": "Vintage", "map.legend": "Legend", "map.legend.none": "No class in view",
    "map.partial": "Partial display (too many polygons in view): zoom in to see all.",
    "search.label": "Territory", "search.placeholder": "Commune, EPCI, SCoT, région, département",
    "search.none": "No territory found", "search.epci": "EPCI",
    "search.departement": "Département", "search.scot": "SCoT", "search.region": "Région",
    "popup.code_cs": "Cover", "popup.code_us": "Use", "popup.millesime": "Vintage", "popup.id": "Identifier",
    "dash.title": "Land artificialisation",
    "dash.choose": "Search a territory above, or open one of the examples below.",
    "dash.overview": "Département {code}: {n} communes", "dash.overview.note": "Sum of the communes the server holds, {a}\u00a0→\u00a0{b}.",
    "dash.open_departement": "Open département {code}",
    "dash.examples": "Examples to open, those that artificialised most from {a} to {b} first",
    "dash.example": "{artif} ha artificialised", "dash.example.rate": "rate {rate}\u00a0%", "dash.example.communes": "{n} communes",
    "dash.nodata": "No indicator computed for these vintages.",
    "dash.millesimes": "Vintages", "dash.loading": "Computing…",
    "dash.rate": "Artificialisation rate", "dash.area": "Artificialised area", "dash.surface": "Territory area",
    "dash.artif": "Artificialisation", "dash.desartif": "Désartificialisation", "dash.net": "Net artificialisation",
    "dash.gap": "Consistency gap", "dash.nostock": "Stock not computed", "dash.csv": "Download the table (CSV)",
    "dash.imper_rate": "Sealing rate", "dash.imper_area": "Sealed area",
    "dash.imper": "Imperméabilisation", "dash.desimper": "Désimperméabilisation", "dash.imper_net": "Net imperméabilisation",
    "dash.imper_flows": "Imperméabilisation flows", "dash.sealed": "of which sealed",
    "dash.by_category": "By decree category", "dash.by_cs": "By land cover (CS)", "dash.by_us": "By land use (US)",
    "dash.flows": "Flows between vintages", "dash.transitions": "Main transitions",
    "dash.before": "CS / US before", "dash.after": "CS / US after",
    "dash.total": "area", "dash.artificial": "of which artificialised", "dash.communes": "Communes",
    "dash.commune": "Commune", "dash.error": "Server error",
    "seg.title": "Orthophoto segmentation", "seg.mode": "Image", "seg.bbox": "Extent on the map (WMS)",
    "seg.upload": "GeoTIFF file", "seg.rgb": "RGB orthophoto (GeoTIFF)", "seg.irc": "IRC orthophoto (optional)",
    "seg.draw": "Draw the extent on the map", "seg.draw.help": "Two clicks on the map: opposite corners of the extent.", "seg.opacity": "Result opacity", "seg.run": "Run the segmentation",
    "seg.status": "Status", "seg.done": "Done: layer added to the map", "seg.failed": "Failed",
    "seg.nobbox": "Draw an extent first", "seg.zoom": "The orthophoto shows from zoom {zoom} on: zoom in on the area to segment.", "seg.nofile": "Choose a file", "seg.wms": "WMS service",
    "jobs.title": "Jobs", "jobs.id": "Identifier", "jobs.process": "Process", "jobs.status": "Status",
    "jobs.progress": "Progress", "jobs.message": "Message", "jobs.started": "Started", "jobs.duration": "Duration",
    "jobs.actions": "Actions", "jobs.cancel": "Cancel", "jobs.results": "Results", "jobs.none": "No job",
    "status.accepted": "queued", "status.running": "running", "status.successful": "successful",
    "status.failed": "failed", "status.dismissed": "cancelled",
    "missing": "not computed",
  },
};

export function lang() {
  const saved = localStorage.getItem(KEY);
  return saved in TEXTS ? saved : "fr";
}

export function t(key, vars = {}) {
  const text = TEXTS[lang()][key] ?? TEXTS.fr[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Number formatted for the reader's language (French: comma decimals, narrow spaces). */
export function num(value, digits = 2) {
  if (value === null || value === undefined) return t("missing");
  return Number(value).toLocaleString(lang() === "fr" ? "fr-FR" : "en-GB",
    { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Translate the page shell and wire the FR/EN switch (a reload re-renders everything in the new language). */
export function setupShell() {
  document.documentElement.lang = lang();
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.classList.toggle("active", button.dataset.lang === lang());
    button.addEventListener("click", () => {
      localStorage.setItem(KEY, button.dataset.lang);
      location.reload();
    });
  }
}
