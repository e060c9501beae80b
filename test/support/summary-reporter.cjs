// Mocha's spec output plus the plain closing line CI reads: "N passed, N failed".
const Mocha = require('mocha');

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const { passes, failures, pending } = runner.stats;
      // Printed after Spec's epilogue so it is the last line.
      process.nextTick(() => {
        console.log(`${passes} passed, ${failures} failed${pending ? `, ${pending} skipped` : ''}`);
      });
    });
  }
}

module.exports = SummaryReporter;
