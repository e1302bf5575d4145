/**
 * Default calibration text for clip search, GPTQ and SmoothQuant: a few KB of plain English prose
 * written for pagelm (no third-party text), on varied everyday topics in simple sentences, so the
 * activation statistics resemble ordinary use of small chat and story models. `pagelm convert
 * --calib FILE` replaces it with text that matches the model's domain better.
 */
export const DEFAULT_CALIBRATION_TEXT = `The morning was cold, and the grass was still wet when Mara walked to the bakery. She bought two loaves of brown bread and a small cake for her brother. The baker smiled and told her that the oven had been warm since four o'clock. On the way home she saw a red fox crossing the road. It stopped, looked at her for a moment, and ran into the field.

A good garden needs patience. Tomatoes like sun and regular water, but too much water makes the roots weak. Beans climb anything they can reach, so a simple frame of sticks and string is enough. Every spring the soil should get a layer of compost. Worms do the rest of the work, slowly turning old leaves into dark, rich earth.

When you boil water at the top of a mountain, it boils at a lower temperature than at the sea. The air is thinner up there, so it presses less on the surface of the water. This is why cooking pasta in the mountains takes longer. Pressure cookers solve the problem by trapping steam, which raises the pressure and the boiling point.

Tom had never seen the ocean. His grandmother lived in a town by the sea, and one summer his parents let him visit her for a week. On the first day he ran straight into the waves and fell over, laughing. By the end of the week he could swim a little, and he had collected a jar full of shells, each one a different shape.

The library opens at nine and closes at six. Children can borrow up to five books at a time, and adults up to ten. Books are due back after three weeks. If you need more time, you can renew a book once at the front desk or on the website, unless another reader has asked for it.

Bees talk to each other by dancing. A bee that finds flowers returns to the hive and moves in a small figure eight. The angle of the dance tells the other bees the direction of the flowers, and the length of the dance tells them how far away they are. Scientists needed many years to understand this language.

"Can I help you carry that?" asked the old man. Lena shook her head and said the box was lighter than it looked. They walked together to the corner, talking about the weather and the new bus line. At the corner he wished her a nice day and turned left toward the park, where he fed the pigeons every afternoon.

To make a simple soup, chop one onion, two carrots and a potato. Warm some oil in a pot and cook the onion until it is soft. Add the other vegetables, cover them with water or stock, and add a pinch of salt. Let everything simmer for twenty minutes, then blend it or leave it chunky. Fresh herbs at the end make a big difference.

The first trains were slow and noisy, and many people were afraid of them. Some doctors warned that traveling at thirty miles an hour would harm the human body. Within a few decades, railways crossed whole continents. Towns grew up around the stations, and clocks across a country had to agree, because trains ran on timetables.

A computer program is a list of instructions. The computer follows them one by one, very quickly and without getting bored. If an instruction is wrong, the computer does not notice; it simply does the wrong thing. That is why programmers test their work, read each other's code, and write small checks that fail loudly when something unexpected happens.

Sam wanted a dog, but his apartment was small. His mother suggested that he help at the animal shelter on Saturdays first. He walked the dogs, cleaned their bowls and learned their names. After two months he knew that a calm older dog would suit them best. In the end they adopted Biscuit, a gray dog who loved naps more than walks.

Rain forms when water vapor in the air cools and gathers into tiny drops around bits of dust. Billions of these drops make a cloud. When the drops bump into each other they grow, and when they become too heavy to float, they fall. Snow forms in the same way, but the air is cold enough for the water to freeze into crystals.

Dear Aunt Rosa, thank you for the warm scarf. It arrived just in time, because the first snow came last night. School is going well. I joined the chess club, and last week I won my first game against a boy from the older class. Mom says we will visit you in the spring. I hope your knee is better. Love, Nina.

Saving money is easier with a plan. Write down what you earn and what you spend in a month. Many people are surprised by how much small purchases add up. Set aside a fixed amount at the start of the month instead of whatever is left at the end. Even a small amount, saved regularly, grows over the years.

The moon does not make its own light. We see it because it reflects light from the sun. As the moon travels around the earth, we see different parts of its lit side, which is why it seems to change shape from a thin curve to a full circle and back again. One full cycle takes about twenty-nine and a half days.

The team had lost every match that season, but the coach never raised his voice. Before the last game he told them to enjoy it and to pass the ball more. They scored early, then held on while the other side attacked again and again. When the final whistle blew, the score was one to nothing, and nobody on the bench could stop smiling.

Once upon a time, a small turtle lived near a quiet pond. Every day he watched the birds fly over the water and wished he could fly too. One day a kind duck offered to teach him. The turtle tried and tried, but he could only splash. The duck laughed gently and said, "You cannot fly, but you can swim under the water, and I cannot do that." The turtle smiled, dove into the pond, and showed the duck the hidden stones and the little silver fish.
`;
