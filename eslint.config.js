import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import berth from './eslint-layers.js'

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '**/.cache/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    // The layers and the seams between the engine's modules (eslint-layers.js).
    files: ['src/**/*.ts'],
    plugins: { berth },
    rules: { 'berth/layers': 'error', 'berth/boundaries': 'error' },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
)
