// Where the sample page keeps its enrolment: the sealed template (a string that opens only
// with this browser's key, for this user, on this origin) in localStorage. Its key lives in the
// package's key store (`templateKey`, IndexedDB); "Forget me" deletes both.

const ENROLMENT = 'facegate-login.enrolment';

/** The enrolled template ({template, enrolledAt}) or undefined. */
export function loadEnrolment() {
  const stored = localStorage.getItem(ENROLMENT);
  return stored ? JSON.parse(stored) : undefined;
}

export function saveEnrolment(template) {
  localStorage.setItem(ENROLMENT, JSON.stringify({ template, enrolledAt: new Date().toISOString() }));
}

/** Deletes the template. */
export function forget() {
  localStorage.removeItem(ENROLMENT);
}
