/**
 * Default text of `pagelm quality`: original prose written for this project (not taken from any
 * data set, and different from the converter's calibration text in src/convert/calibration-text.ts,
 * so the metrics are measured on text the quantizers never saw). It is plain, story-like English
 * because the test models are TinyStories models; a perplexity on text far from their training
 * distribution would mostly measure that distance, not the quantization.
 */
export const EVAL_TEXT = `Mia had a red kite with a long yellow tail. Every windy day she ran to the hill behind her house to fly it. One morning the wind was very strong. The kite went up and up until it was only a small dot in the sky. Mia held the string with both hands and laughed.

Then the string slipped out of her fingers. The kite flew away over the trees. Mia felt sad and sat down on the grass. Her brother Sam came up the hill with a bag of apples. "Why are you sad?" he asked. Mia told him about the kite. Sam gave her an apple and said, "Let's go and look for it together."

They walked down the other side of the hill and into the woods. They saw a rabbit, a big brown log, and a small pond with ducks. At last Mia saw something red high in an old tree. It was her kite! Sam was tall, but the kite was too high for him. So he found a long stick and gently pushed the kite until it fell down into Mia's arms. Mia hugged her brother and said thank you. On the way home they shared the apples and sang a silly song about ducks.

Tom was a little dog who did not like baths. When his mom filled the tub with warm water, Tom hid under the bed. "Tom, where are you?" called Anna, the girl who lived with him. Tom stayed very still. Anna looked in the kitchen and in the garden, but she could not find him. Then she had an idea. She took a ball and bounced it on the floor. Tom loved his ball more than anything. He forgot about hiding and ran out to catch it. Anna picked him up and smiled. "Now it is bath time," she said. Tom was not happy at first, but the water was warm and the bubbles were fun. After the bath Anna wrapped him in a soft towel, and Tom fell asleep on her lap.

In a small town there was a baker named Mr. Green. Each morning he made bread, cakes and cookies for everyone. One day a girl named Lucy came into the shop with her grandma. Lucy looked at the cookies with big eyes. "Can I help you make cookies?" she asked. Mr. Green said yes. He gave Lucy a little hat and a bowl. Together they mixed flour, sugar, butter and eggs. Lucy put the dough on a tray and made the cookies into the shape of stars. When the cookies came out of the oven, the whole shop smelled sweet. Lucy gave the first cookie to her grandma and the second one to Mr. Green. "You are a good baker," he told her. Lucy was very proud.

Ben wanted to build a tower that reached the sky. He took all his blocks and put them one on top of the other. The tower grew taller and taller. When it was as tall as Ben, it began to shake. "Be careful!" said his friend Lily. Ben put one more block on top, and the tower fell down with a loud crash. Ben was sad, but Lily helped him pick up the blocks. "Let's build it wide at the bottom this time," she said. They made a big square at the bottom and a small one at the top. This time the tower stood strong. Ben and Lily clapped their hands. They learned that a good tower needs a good base.

One night the moon could not sleep. It looked down at the quiet town and saw a little boy at his window. The boy could not sleep either. "Hello, moon," he whispered. The moon smiled and made its light a little brighter, so the boy could see the garden, the swing and the old cat on the fence. The boy waved at the cat, and the cat waved its tail back. Soon the boy yawned and went back to bed. The moon watched over him until the sun came up and it was time for the moon to rest.
`;
