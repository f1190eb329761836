// Assisted intake. The form: shows only the questions that apply (the server checks the same
// conditions), keeps what was typed in sessionStorage so a failed send on a slow line loses
// nothing, fills the location from the device, and shrinks big camera photos before upload.
// The receipt: once it has loaded, the kept values are no longer needed.
(function () {
  "use strict";
  var PREFIX = "satupintu-intake";
  var SHRINK_ABOVE = 1500000; // bytes; a camera photo is usually 3-8 MB
  var LONGEST_SIDE = 1600; // pixels: plenty to see a house, a wound, a document

  function storage() {
    try {
      return window.sessionStorage;
    } catch (error) { // private mode or storage switched off: the form still works
      return null;
    }
  }

  if (document.querySelector("[data-intake-receipt]")) {
    var store = storage();
    if (store) {
      Object.keys(store).filter(function (key) { return key.indexOf(PREFIX) === 0; })
        .forEach(function (key) { store.removeItem(key); });
    }
    return;
  }

  var form = document.getElementById("intake-form");
  if (!form) {
    return;
  }
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }

  // ------------------------------------------------------------ which questions apply
  function holds(condition, answers) {
    if (condition === true || condition === false) {
      return condition;
    }
    return Object.keys(condition || {}).every(function (key) {
      var allowed = Array.isArray(condition[key]) ? condition[key] : [condition[key]];
      return allowed.indexOf(answers[key]) >= 0;
    });
  }

  function parse(text) {
    try {
      return JSON.parse(text);
    } catch (error) {
      return {};
    }
  }

  function answersOf(wrapper, answers) {
    wrapper.querySelectorAll("[data-answer]").forEach(function (input) {
      if ((input.type === "radio" && !input.checked) || !input.value) {
        return;
      }
      answers[input.name] = input.value;
      var picked = input.tagName === "SELECT" ? input.options[input.selectedIndex] : null;
      if (picked && picked.dataset.group) {
        answers.category_group = picked.dataset.group;
      }
      if (picked && picked.dataset.district) {
        answers.district_code = picked.dataset.district;
      }
    });
  }

  // In the flow's order, like the server: a question's conditions see only the answers of the
  // questions before it that apply.
  function refresh() {
    var answers = {};
    form.querySelectorAll("[data-step]").forEach(function (wrapper) {
      var applies = holds(parse(wrapper.dataset.when), answers);
      var optional = holds(parse(wrapper.dataset.optional), answers);
      wrapper.hidden = !applies;
      var note = wrapper.querySelector("[data-optional-note]");
      if (note) {
        note.hidden = !optional;
      }
      var unknownBox = wrapper.querySelector("[data-unknown-when]");
      var unknownAllowed = unknownBox ? holds(parse(unknownBox.dataset.unknownWhen), answers) : false;
      if (unknownBox) {
        unknownBox.hidden = !unknownAllowed;
      }
      var unknown = unknownAllowed && wrapper.querySelector("[data-unknown]").checked;
      wrapper.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = !applies || (unknown && input.hasAttribute("data-nik"));
      });
      wrapper.querySelectorAll("[data-answer]").forEach(function (input) {
        if (input.type !== "checkbox") {
          input.required = applies && !optional && !unknown;
        }
      });
      if (applies) {
        answersOf(wrapper, answers);
      }
    });
  }

  // ------------------------------------------------------------ keeping what was typed
  var store = storage();
  var storageKey = form.dataset.storage;

  function save() {
    if (!store) {
      return;
    }
    var kept = {};
    Array.prototype.forEach.call(form.elements, function (input) {
      if (!input.name || input.type === "file" || input.name === "csrf") {
        return;
      }
      if ((input.type === "radio" || input.type === "checkbox") && !input.checked) {
        return;
      }
      kept[input.name] = input.value;
    });
    try {
      store.setItem(storageKey, JSON.stringify(kept));
    } catch (error) { // storage full: keep working without it
    }
  }

  function restore() {
    var kept = store ? parse(store.getItem(storageKey) || "null") : null;
    if (!kept) {
      return false;
    }
    Array.prototype.forEach.call(form.elements, function (input) {
      if (!input.name || input.type === "file" || input.name === "csrf" || !(input.name in kept)) {
        return;
      }
      if (input.type === "radio" || input.type === "checkbox") {
        input.checked = input.value === kept[input.name];
      } else {
        input.value = kept[input.name];
      }
    });
    return true;
  }

  var restored = restore();
  if (restored && form.dataset.rerender !== "1") {
    var notice = document.querySelector("[data-restored]");
    if (notice) {
      notice.hidden = false;
    }
  }
  var clear = document.querySelector("[data-clear-form]");
  if (clear && store) {
    clear.addEventListener("click", function () { store.removeItem(storageKey); });
  }
  form.addEventListener("input", save);
  form.addEventListener("change", function () {
    refresh();
    save();
  });
  refresh();

  // ------------------------------------------------------------ location
  var latitude = form.querySelector("[data-latitude]");
  var longitude = form.querySelector("[data-longitude]");
  var status = form.querySelector("[data-location-status]");
  var useButton = form.querySelector("[data-use-location]");
  var clearButton = form.querySelector("[data-clear-location]");

  function say(template, values) {
    status.textContent = template.replace(/\{(\w+)\}/g, function (_, name) { return values[name]; });
  }

  function showKept() {
    var kept = latitude.value && longitude.value;
    clearButton.hidden = !kept;
    if (kept) {
      say(status.dataset.kept, { lat: latitude.value, lon: longitude.value });
    } else {
      status.textContent = "";
    }
  }

  if (latitude && longitude && status && useButton && navigator.geolocation) {
    useButton.hidden = false;
    showKept();
    useButton.addEventListener("click", function () {
      say(status.dataset.finding, {});
      useButton.disabled = true;
      navigator.geolocation.getCurrentPosition(function (position) {
        latitude.value = position.coords.latitude.toFixed(6);
        longitude.value = position.coords.longitude.toFixed(6);
        useButton.disabled = false;
        clearButton.hidden = false;
        say(status.dataset.found, { lat: latitude.value, lon: longitude.value,
                                    accuracy: Math.round(position.coords.accuracy) });
        save();
      }, function (error) {
        useButton.disabled = false;
        say(error.code === error.PERMISSION_DENIED ? status.dataset.denied : status.dataset.failed, {});
      }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
    });
    clearButton.addEventListener("click", function () {
      latitude.value = "";
      longitude.value = "";
      showKept();
      save();
      useButton.focus();
    });
  }

  // ------------------------------------------------------------ photos
  var photos = form.querySelector("[data-photos]");
  var maxBytes = parseInt(form.dataset.maxBytes, 10);

  function shrink(file) {
    if (file.size <= SHRINK_ABOVE || !/^image\/(jpeg|png|webp)$/.test(file.type)) {
      return Promise.resolve(file);
    }
    return new Promise(function (resolve) {
      var url = URL.createObjectURL(file);
      var image = new Image();
      image.onload = function () {
        var scale = Math.min(1, LONGEST_SIDE / Math.max(image.naturalWidth, image.naturalHeight));
        var canvas = document.createElement("canvas");
        canvas.width = Math.round(image.naturalWidth * scale);
        canvas.height = Math.round(image.naturalHeight * scale);
        canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(url);
        canvas.toBlob(function (blob) {
          var name = file.name.replace(/\.[^.]*$/, "") + ".jpg";
          resolve(blob && blob.size < file.size ? new File([blob], name, { type: "image/jpeg" }) : file);
        }, "image/jpeg", 0.85);
      };
      image.onerror = function () {
        URL.revokeObjectURL(url);
        resolve(file); // the server says what is wrong with it
      };
      image.src = url;
    });
  }

  function photosFit() {
    var files = Array.prototype.slice.call(photos.files || []);
    var total = files.reduce(function (sum, file) { return sum + file.size; }, 0);
    var tooMany = files.length > parseInt(photos.dataset.maxCount, 10);
    var tooBig = !tooMany && total > maxBytes;
    form.querySelector("[data-photos-too-many]").hidden = !tooMany;
    form.querySelector("[data-photos-too-big]").hidden = !tooBig;
    return !tooMany && !tooBig;
  }

  var shrinking = null;
  if (photos) {
    photos.addEventListener("change", function () {
      var files = Array.prototype.slice.call(photos.files || []);
      if (!window.DataTransfer || !window.File || !HTMLCanvasElement.prototype.toBlob) {
        photosFit();
        return;
      }
      shrinking = Promise.all(files.map(shrink)).then(function (smaller) {
        var list = new DataTransfer();
        smaller.forEach(function (file) { list.items.add(file); });
        photos.files = list.files;
        shrinking = null;
        photosFit();
      });
    });
  }

  // ------------------------------------------------------------ sending
  var submit = form.querySelector("[data-submit]");
  form.addEventListener("submit", function (event) {
    if (shrinking) { // still making the photos smaller: send when that is done
      event.preventDefault();
      shrinking.then(function () { form.requestSubmit ? form.requestSubmit() : form.submit(); });
      return;
    }
    if (photos && !photosFit()) {
      event.preventDefault();
      photos.focus();
      return;
    }
    save();
    submit.disabled = true; // one tap, one send; the form key makes a second send harmless anyway
    window.setTimeout(function () { submit.disabled = false; }, 15000);
  });
  window.addEventListener("pageshow", function () {
    submit.disabled = false;
  });
})();
