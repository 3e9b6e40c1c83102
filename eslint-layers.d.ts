// Types for eslint-layers.js, so its test can load the rules.
import type { Rule } from 'eslint'

declare const plugin: { rules: { layers: Rule.RuleModule; boundaries: Rule.RuleModule } }
export default plugin
