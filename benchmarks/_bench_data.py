"""Deterministic, realistic-looking prompts and responses for the benchmarks (written for this project).

Each topic has a user question and a pool of sentences in two registers (careful / sloppy); a comparison is the
question plus two responses built from 3-8 sentences of the pools (30-120 words), chosen by a seeded RNG.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

TOPICS: list[tuple[str, list[str], list[str]]] = [
    (
        "How do I keep my sourdough starter alive while I am away for two weeks?",
        [
            "Feed it generously, let it rise for an hour, then put it in the fridge with a loose lid.",
            "A cold starter slows down a lot, so two weeks without feeding is usually fine.",
            "When you come back, discard most of it and feed it twice a day until it doubles again.",
            "If a grey liquid forms on top, that is just alcohol from hungry yeast; pour it off or stir it in.",
            "You can also dry a thin layer on baking paper as a backup and rehydrate it later.",
            "Keep a spoonful in a separate jar in case the main one gets mould.",
        ],
        [
            "Starters are basically immortal so you don't need to do anything at all.",
            "Just leave it on the counter, it will be fine, they always are.",
            "Some people freeze it but honestly I would not bother with that.",
            "If it smells weird throw it out and buy a new one online.",
        ],
    ),
    (
        "What is the difference between a virus and a bacterium?",
        [
            "Bacteria are single-celled living organisms that can reproduce on their own.",
            "Viruses are much smaller and cannot reproduce without entering a host cell.",
            "Antibiotics work against many bacteria but do nothing against viruses.",
            "Most bacteria are harmless or even helpful, for example the ones in your gut.",
            "Vaccines exist for diseases caused by both, such as tetanus and measles.",
            "A doctor can often tell them apart with a culture or a quick test.",
        ],
        [
            "They are the same thing really, both are germs that make you sick.",
            "You should take antibiotics for any infection to be safe.",
            "Viruses are just small bacteria as far as I know.",
            "Germs are bad so wash your hands, that is all you need to know.",
        ],
    ),
    (
        "Can you explain what compound interest is with a simple example?",
        [
            "Compound interest means you earn interest on your interest, not only on the money you put in.",
            "If you save 1000 dollars at 5 percent a year, you have 1050 after one year.",
            "In the second year you earn 5 percent of 1050, which is 52.50, so you have 1102.50.",
            "Over thirty years the same deposit grows to about 4322 dollars without adding anything.",
            "The earlier you start, the more time the effect has to work in your favour.",
            "Debt on a credit card compounds too, which is why unpaid balances grow so fast.",
        ],
        [
            "Compound interest is when the bank adds some money every year.",
            "It is complicated math that only accountants need to understand.",
            "Basically you get rich if you wait long enough, that's it.",
            "Just put your money in stocks and forget about it.",
        ],
    ),
    (
        "My neighbour's dog barks all night. What should I do?",
        [
            "Start by talking to your neighbour calmly; they may not know it happens while they sleep.",
            "Write down the dates and times so you can describe the problem precisely.",
            "Many towns have a noise ordinance and a mediation service that can help for free.",
            "If talking does not work, a short polite letter keeps a record of your request.",
            "Contact animal control or the police only if the barking continues after that.",
            "Earplugs or a white noise machine can help you sleep in the meantime.",
        ],
        [
            "You could throw something over the fence to scare the dog quiet.",
            "Call the police right away, that will teach them.",
            "Dogs bark, there is nothing anyone can do about it.",
            "Play loud music back at them so they see how it feels.",
        ],
    ),
    (
        "What should I pack for a three-day hike in the mountains in autumn?",
        [
            "Bring layers: a base layer that dries fast, a warm fleece and a waterproof shell.",
            "Nights can drop below freezing, so pack a sleeping bag rated for the cold and a hat.",
            "Carry a map and compass as well as your phone, since batteries die in the cold.",
            "Plan about two litres of water a day and a filter to refill from streams.",
            "A small first aid kit, a headlamp and spare batteries are essential.",
            "Tell someone your route and when you expect to be back.",
        ],
        [
            "Just bring a backpack with snacks and your phone for photos.",
            "Jeans and sneakers are fine, mountains are not that cold in autumn.",
            "You can buy water on the trail usually.",
            "Don't overthink it, hiking is just walking.",
        ],
    ),
    (
        "Is it safe to mix bleach and vinegar for cleaning?",
        [
            "No. Mixing bleach with vinegar releases chlorine gas, which is toxic to breathe.",
            "Even small amounts in a closed bathroom can irritate your eyes, throat and lungs.",
            "Use one product at a time and rinse the surface with water before switching.",
            "If you were exposed, get to fresh air immediately and call poison control if you feel unwell.",
            "For most cleaning, diluted vinegar or a mild detergent is enough on its own.",
            "Always keep cleaning products in their original labelled containers.",
        ],
        [
            "Yes, it makes a stronger cleaner, just open a window.",
            "A little bit is fine, people do it all the time.",
            "It depends on the brand of bleach you use.",
            "Mixing cleaners saves time so go for it.",
        ],
    ),
    (
        "How can I get better at public speaking?",
        [
            "Practise out loud several times, ideally in front of one or two friends.",
            "Record yourself once; watching it shows habits you cannot feel while speaking.",
            "Know your first two sentences by heart so you start with confidence.",
            "Slow down and pause between points; silence feels longer to you than to the audience.",
            "Focus on one message the audience should remember rather than many details.",
            "Joining a local speaking club gives you regular, low-stakes practice.",
        ],
        [
            "Imagine the audience in their underwear, that always works.",
            "Some people are born speakers and some are not.",
            "Just read your slides word for word so you don't forget anything.",
            "Drink a glass of wine before you go on stage to relax.",
        ],
    ),
    (
        "Why is the sky blue?",
        [
            "Sunlight contains all colours, and air molecules scatter short blue wavelengths much more than red ones.",
            "This is called Rayleigh scattering, and its strength grows sharply as the wavelength gets shorter.",
            "The scattered blue light reaches your eyes from every direction, so the whole sky looks blue.",
            "At sunset light travels through more air, the blue is scattered away, and reds remain.",
            "Violet is scattered even more, but our eyes are less sensitive to it.",
        ],
        [
            "Because it reflects the ocean, which is blue.",
            "The sky is blue because of the ozone layer colour.",
            "Nobody really knows, it is one of the mysteries of nature.",
            "It is blue because space is blue behind it.",
        ],
    ),
    (
        "Write me a short message to decline a job offer politely.",
        [
            "Thank you very much for offering me the position and for the time your team spent with me.",
            "After careful thought, I have decided to accept another role that fits my current goals more closely.",
            "I enjoyed learning about your work and was impressed by the people I met.",
            "I hope our paths cross again, and I wish you every success in filling the role.",
            "Kind regards, and thank you again for your understanding.",
        ],
        [
            "Hey, not taking the job, thanks anyway.",
            "I got a better offer so I'm going with them.",
            "Sorry but your salary was too low for me.",
            "Bye and good luck.",
        ],
    ),
    (
        "How do I tell if an egg is still fresh?",
        [
            "Put the egg in a bowl of cold water: a fresh egg sinks and lies flat on the bottom.",
            "An older egg stands on its end because the air cell inside grows as it ages.",
            "If it floats, it is best to throw it away.",
            "You can also crack it onto a plate: a fresh yolk is domed and the white holds together.",
            "Any sulphur smell means the egg has gone bad, whatever the date on the box says.",
        ],
        [
            "Shake it next to your ear, if it sloshes it is rotten.",
            "Eggs last forever in the fridge so don't worry.",
            "Just check the date on the carton, that is always accurate.",
            "Brown eggs stay fresh longer than white ones.",
        ],
    ),
    (
        "What are some good ways to reduce stress during exam season?",
        [
            "Make a realistic study plan that breaks each subject into small daily pieces.",
            "Sleep matters more than late-night cramming; memory consolidates while you sleep.",
            "Short breaks every hour, with a walk or some stretching, keep your focus sharper.",
            "Test yourself with past papers instead of only rereading notes.",
            "Talk to friends, family or a counsellor if the pressure feels overwhelming.",
            "Keep eating regular meals and drink water rather than a lot of energy drinks.",
        ],
        [
            "Stay up all night before the exam so everything is fresh.",
            "Energy drinks are the secret, have as many as you need.",
            "Stress is good for you, it makes you work harder.",
            "Skip the hard subjects and hope they don't come up.",
        ],
    ),
    (
        "How does a refrigerator keep food cold?",
        [
            "A fridge moves heat from the inside to the outside using a refrigerant that circulates in pipes.",
            "The refrigerant evaporates in coils inside the fridge and absorbs heat as it turns into gas.",
            "A compressor squeezes the gas, which makes it hot, and pushes it to coils at the back.",
            "There it releases the heat into the room and condenses back into a liquid.",
            "An expansion valve lowers its pressure again so the cycle can repeat.",
        ],
        [
            "It has ice inside the walls that keeps everything cold.",
            "The cold comes from the electricity directly.",
            "Fridges make cold air with a fan.",
            "It is magic basically, I have never understood it.",
        ],
    ),
    (
        "Can you recommend a way to learn a new language as an adult?",
        [
            "Study a little every day; twenty minutes daily beats three hours once a week.",
            "Use spaced repetition flashcards for vocabulary so you review words just before you forget them.",
            "Listen to podcasts or shows in the language with subtitles in that language.",
            "Find a conversation partner online and speak from the first weeks, even if it feels awkward.",
            "Learn the most common thousand words first; they cover most everyday speech.",
            "Accept mistakes as part of the process; adults learn fast when they are not afraid of them.",
        ],
        [
            "Adults can't really learn languages, you need to start as a child.",
            "Just move to the country and you will pick it up automatically.",
            "Memorise the dictionary from A to Z.",
            "Use a translation app for everything instead.",
        ],
    ),
    (
        "What should I do if I think I have a sprained ankle?",
        [
            "Rest the ankle and avoid putting weight on it for the first day or two.",
            "Apply ice wrapped in a cloth for fifteen to twenty minutes every few hours.",
            "A compression bandage and keeping the foot raised above your heart reduce swelling.",
            "See a doctor if you cannot walk four steps, if the pain is severe, or if it does not improve in a few days.",
            "An X-ray may be needed to rule out a fracture.",
            "Gentle movement after the swelling goes down helps the joint recover.",
        ],
        [
            "Walk it off, it will get better on its own.",
            "Put heat on it right away to loosen it up.",
            "Sprains are never serious so don't see a doctor.",
            "Wrap it as tight as you can and keep running.",
        ],
    ),
    (
        "Explain recursion to a beginner programmer.",
        [
            "Recursion is when a function solves a problem by calling itself on a smaller version of the same problem.",
            "Every recursive function needs a base case, a situation simple enough to answer directly.",
            "For example, the factorial of n is n times the factorial of n minus one, and the factorial of 0 is 1.",
            "Each call waits for the smaller call to finish, then combines the result.",
            "Without a base case the calls never stop and the program runs out of stack space.",
            "Many recursive functions can also be written as loops, which is sometimes faster.",
        ],
        [
            "Recursion is a loop that goes forever.",
            "It is an advanced topic, beginners should not use it.",
            "Recursion means copying code into itself.",
            "Just google it, there are many videos.",
        ],
    ),
    (
        "How can I make my small apartment feel bigger?",
        [
            "Use light colours on the walls and ceiling so the room reflects more light.",
            "A large mirror opposite a window doubles the daylight and the sense of depth.",
            "Choose furniture with visible legs; seeing the floor underneath makes a room feel open.",
            "Keep surfaces clear and store things in closed cabinets or under the bed.",
            "Hang curtains close to the ceiling to make the walls look taller.",
            "Pick a few larger pieces instead of many small ones, which clutter the space.",
        ],
        [
            "Knock down a wall, that is the only real way.",
            "Move to a bigger place honestly.",
            "Paint everything black, it looks more stylish.",
            "Buy a lot of small furniture to fill every corner.",
        ],
    ),
]


@dataclass(frozen=True)
class Comparison:
    """One pairwise comparison: a user question and two candidate responses."""

    question: str
    response_a: str
    response_b: str


def _response(rng: random.Random, good: list[str], bad: list[str], quality: float) -> str:
    pool = good + bad
    while True:
        k = rng.randint(3, 7)
        picks = [(rng.choice(good) if rng.random() < quality else rng.choice(bad)) for _ in range(k)]
        seen: list[str] = []
        for p in picks:
            if p not in seen:
                seen.append(p)
        text = " ".join(seen)
        if 30 <= len(text.split()) <= 120:
            return text
        if len(text.split()) < 30:
            seen.append(rng.choice(pool))
            text = " ".join(dict.fromkeys(seen))
            if 30 <= len(text.split()) <= 120:
                return text


def comparisons(n: int = 64, seed: int = 0) -> list[Comparison]:
    """``n`` comparisons, cycling through the topics; deterministic in ``seed``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        question, good, bad = TOPICS[i % len(TOPICS)]
        a = _response(rng, good, bad, quality=rng.uniform(0.5, 1.0))
        b = _response(rng, good, bad, quality=rng.uniform(0.0, 0.8))
        if rng.random() < 0.5:
            a, b = b, a
        out.append(Comparison(question, a, b))
    return out


def long_prompts(n: int = 32) -> list[str]:
    """``n`` requests that invite long answers (for generation benchmarks)."""
    asks = [
        "Write a detailed, step-by-step guide answering this question: ",
        "Explain at length, with examples, the answer to: ",
    ]
    return [asks[i % 2] + TOPICS[i % len(TOPICS)][0] for i in range(n)]


def answer_sets(n_questions: int = 12, per_question: int = 4, seed: int = 0) -> list[tuple[str, list[str]]]:
    """``per_question`` answers (30-120 words, mixed quality) to each of ``n_questions`` questions, as a generate
    stage with ``n = per_question`` would produce; deterministic in ``seed``."""
    rng = random.Random(seed)
    out = []
    for i in range(n_questions):
        question, good, bad = TOPICS[i % len(TOPICS)]
        out.append(
            (
                question,
                [_response(rng, good, bad, quality=rng.uniform(0.0, 1.0)) for _ in range(per_question)],
            )
        )
    return out
