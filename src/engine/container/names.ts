import { randomInt } from 'node:crypto'
import { InvalidArgument } from '../errors.ts'

const VALID_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/

/** Checks a user-given name and returns it without the leading slash Docker allows. */
export function validateName(name: string): string {
  if (!VALID_NAME.test(name)) {
    throw new InvalidArgument(
      `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    )
  }
  return name.startsWith('/') ? name.slice(1) : name
}

// Docker names unnamed containers adjective_scientist; users recognise the shape.
// prettier-ignore
const ADJECTIVES = [
  'admiring', 'affectionate', 'agitated', 'amazing', 'angry', 'awesome', 'beautiful', 'blissful',
  'bold', 'boring', 'brave', 'busy', 'charming', 'clever', 'compassionate', 'competent',
  'confident', 'cool', 'cranky', 'crazy', 'dazzling', 'determined', 'distracted', 'dreamy',
  'eager', 'ecstatic', 'elastic', 'elated', 'elegant', 'eloquent', 'epic', 'exciting',
  'fervent', 'festive', 'flamboyant', 'focused', 'friendly', 'frosty', 'funny', 'gallant',
  'gifted', 'goofy', 'gracious', 'great', 'happy', 'hardcore', 'heuristic', 'hopeful',
  'hungry', 'infallible', 'inspiring', 'intelligent', 'interesting', 'jolly', 'jovial', 'keen',
  'kind', 'laughing', 'loving', 'lucid', 'magical', 'modest', 'musing', 'mystifying',
  'naughty', 'nervous', 'nice', 'nifty', 'nostalgic', 'objective', 'optimistic', 'peaceful',
  'pedantic', 'pensive', 'practical', 'priceless', 'quirky', 'quizzical', 'recursing',
  'relaxed', 'reverent', 'romantic', 'sad', 'serene', 'sharp', 'silly', 'sleepy', 'stoic',
  'strange', 'stupefied', 'suspicious', 'sweet', 'tender', 'thirsty', 'trusting', 'unruffled',
  'upbeat', 'vibrant', 'vigilant', 'vigorous', 'wizardly', 'wonderful', 'xenodochial',
  'youthful', 'zealous', 'zen',
]
// prettier-ignore
const SCIENTISTS = [
  'agnesi', 'albattani', 'allen', 'archimedes', 'babbage', 'banach', 'bardeen', 'bartik',
  'bassi', 'bell', 'bhabha', 'blackwell', 'bohr', 'booth', 'borg', 'bose', 'brahmagupta',
  'brattain', 'brown', 'carson', 'cerf', 'chandrasekhar', 'curie', 'darwin', 'davinci',
  'dijkstra', 'driscoll', 'easley', 'einstein', 'elion', 'engelbart', 'euclid', 'euler',
  'faraday', 'fermat', 'fermi', 'feynman', 'franklin', 'galileo', 'gauss', 'goldberg',
  'goodall', 'hamilton', 'hawking', 'heisenberg', 'hertz', 'hodgkin', 'hopper', 'hypatia',
  'jackson', 'jang', 'johnson', 'kalam', 'kepler', 'knuth', 'kowalevski', 'lamarr', 'lamport',
  'leakey', 'leavitt', 'lovelace', 'lumiere', 'mayer', 'mccarthy', 'meitner', 'mendel',
  'mirzakhani', 'morse', 'napier', 'newton', 'nobel', 'noether', 'pascal', 'pasteur', 'payne',
  'perlman', 'pike', 'poincare', 'ptolemy', 'raman', 'ramanujan', 'ride', 'ritchie', 'rosalind',
  'sammet', 'shannon', 'shockley', 'sinoussi', 'stonebraker', 'swanson', 'tesla', 'thompson',
  'torvalds', 'turing', 'varahamihira', 'villani', 'wescoff', 'wilbur', 'williams', 'wilson',
  'wing', 'wozniak', 'wright', 'yalow', 'yonath',
]

export function randomName(retry: number): string {
  const base = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${SCIENTISTS[randomInt(SCIENTISTS.length)]}`
  return retry > 0 ? `${base}${randomInt(10)}` : base
}
