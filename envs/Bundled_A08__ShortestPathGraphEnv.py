import ast
import json
import random
from collections import deque

import gymnasium


class ShortestPathGraphEnv(gymnasium.Env):
    """Fewest edges between two nodes of an undirected graph, explored node by node (BFS)."""

    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.GET_NEIGHBORS = 1
        self.CHECK_EDGE = 2
        self.SET_DISTANCE = 3
        self.GET_DISTANCE = 4
        self.DONE = 5

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "GetNeighbors": self.GET_NEIGHBORS,
            "CheckEdge": self.CHECK_EDGE,
            "SetDistance": self.SET_DISTANCE,
            "GetDistance": self.GET_DISTANCE,
            "Done": self.DONE,
        }

        options = {}
        if env_str is not None:
            parts = env_str.split("@", 1)
            if len(parts) == 2 and parts[1].strip():
                options = ast.literal_eval(parts[1])
        self.reset(options)

    # [Required] Define the property and staticmethod of the environment
    @property
    def finished(self) -> bool:
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    @staticmethod
    def from_env_str(env_str: str):
        prefix = "ShortestPathGraphEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return ShortestPathGraphEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options: dict = {}):  # noqa: B006
        if not isinstance(options, dict):
            options = {}
        self.num_nodes = max(1, int(options.get("num_nodes", 6)))
        edges = options.get("edges", [[0, 1], [0, 2], [1, 3], [2, 3], [3, 4], [4, 5]])
        self.adjacency = [set() for _ in range(self.num_nodes)]
        for u, v in edges:
            u, v = int(u), int(v)
            if 0 <= u < self.num_nodes and 0 <= v < self.num_nodes and u != v:
                self.adjacency[u].add(v)
                self.adjacency[v].add(u)
        self.neighbors = [sorted(adj) for adj in self.adjacency]
        self.num_edges = sum(len(adj) for adj in self.adjacency) // 2
        self.source = min(max(0, int(options.get("source", 0))), self.num_nodes - 1)
        self.target = min(max(0, int(options.get("target", self.num_nodes - 1))), self.num_nodes - 1)
        self.distances = {}
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        dist = {self.source: 0}
        queue = deque([self.source])
        while queue:
            u = queue.popleft()
            if u == self.target:
                return dist[u]
            for v in self.neighbors[u]:
                if v not in dist:
                    dist[v] = dist[u] + 1
                    queue.append(v)
        return -1

    def _check_node(self, value, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
        if not 0 <= value < self.num_nodes:
            raise ValueError(f"{name} must be between 0 and {self.num_nodes - 1}, got {value}")
        return value

    # [Required] Define the step method of the environment
    def step(self, action: str) -> tuple[bool, str]:
        self.step_count += 1
        try:
            call = json.loads(action)
            if not isinstance(call, dict):
                raise ValueError("the action must be a JSON object with 'name' and 'parameters'")
            name = call.get("name")
            params = call.get("parameters", {})
            if params is None:
                params = {}
            if not isinstance(name, str) or name not in self.func_mapping:
                raise ValueError(f"unknown action {name!r}; available: {', '.join(self.func_mapping)}")
            if not isinstance(params, dict):
                raise ValueError("'parameters' must be a JSON object")
            code = self.func_mapping[name]
            if code == self.OBSERVE:
                handler = self.Observe
            elif code == self.GET_NEIGHBORS:
                handler = self.GetNeighbors
            elif code == self.CHECK_EDGE:
                handler = self.CheckEdge
            elif code == self.SET_DISTANCE:
                handler = self.SetDistance
            elif code == self.GET_DISTANCE:
                handler = self.GetDistance
            else:
                handler = self.Done
            msg = handler(**params)
        except Exception as e:
            return True, f"Error: {e}"
        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show the size of the graph and the two endpoints. Nodes are numbered 0 .. num_nodes - 1;
        the edges are not listed here, ask for a node's neighbours instead.

        Args:
            None

        Returns:
            str: JSON object with num_nodes, num_edges, source and target.

        Example Output:
            "{\"num_nodes\": 6, \"num_edges\": 6, \"source\": 0, \"target\": 5}"
        """
        return json.dumps(
            {
                "num_nodes": self.num_nodes,
                "num_edges": self.num_edges,
                "source": self.source,
                "target": self.target,
            }
        )

    def GetNeighbors(self, node: int):
        r"""
        List the nodes joined to a node by an edge, in increasing order.

        Args:
            node (int): A node, from 0 to num_nodes - 1.

        Returns:
            str: JSON list of neighbouring nodes.

        Example Output:
            "[1, 2]"
        """
        return json.dumps(self.neighbors[self._check_node(node, "node")])

    def CheckEdge(self, u: int, v: int):
        r"""
        Check whether two nodes are joined by an edge.

        Args:
            u (int): A node, from 0 to num_nodes - 1.
            v (int): A node, from 0 to num_nodes - 1.

        Returns:
            str: "true" or "false".

        Example Output:
            "true"
        """
        u = self._check_node(u, "u")
        v = self._check_node(v, "v")
        return "true" if v in self.adjacency[u] else "false"

    def SetDistance(self, node: int, distance: int):
        r"""
        Record the distance (number of edges from the source) found for a node. A node's distance can be
        recorded only once.

        Args:
            node (int): A node, from 0 to num_nodes - 1.
            distance (int): Its distance, from 0 to num_nodes - 1.

        Returns:
            str: JSON object with the node, its recorded distance and how many nodes have a distance.

        Example Output:
            "{\"node\": 3, \"distance\": 2, \"recorded\": 4}"
        """
        node = self._check_node(node, "node")
        if isinstance(distance, bool) or not isinstance(distance, int):
            raise ValueError(f"distance must be an integer, got {type(distance).__name__}")
        if not 0 <= distance < self.num_nodes:
            raise ValueError(f"distance must be between 0 and {self.num_nodes - 1}, got {distance}")
        if node in self.distances:
            raise ValueError(f"node {node} already has distance {self.distances[node]}")
        self.distances[node] = distance
        return json.dumps({"node": node, "distance": distance, "recorded": len(self.distances)})

    def GetDistance(self, node: int):
        r"""
        Read the distance recorded for a node.

        Args:
            node (int): A node, from 0 to num_nodes - 1.

        Returns:
            str: JSON object with the node and its distance (null if none was recorded).

        Example Output:
            "{\"node\": 5, \"distance\": 4}"
        """
        node = self._check_node(node, "node")
        return json.dumps({"node": node, "distance": self.distances.get(node)})

    def Done(self, answer):
        r"""
        Submit the smallest number of edges on a path from source to target, or -1 if no path exists.

        Args:
            answer (int): The number of edges, or -1.

        Returns:
            str: The submitted and reference answers, and the reward.

        Example Output:
            "Your answer: 4, reference answer: 4, result: correct, reward=1"
        """
        ref_answer = self.get_ref_answer()
        correct = answer == ref_answer
        self._reward = 1 if correct else 0
        self._done = True
        msg = f"Your answer: {answer}, reference answer: {ref_answer}, result: {'correct' if correct else 'wrong'}"
        return msg + f", reward={self._reward}"

    # Define the solve method of the environment
    def solve(self):
        r"""
        Breadth-first search from the source: expand nodes in queue order, record the distance of each
        newly reached node, and stop once the target is reached or the queue runs out.

        Returns:
            str: The message returned by Done.
        """
        obs = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        source, target = obs["source"], obs["target"]
        self.step(json.dumps({"name": "SetDistance", "parameters": {"node": source, "distance": 0}}))
        dist = {source: 0}
        queue = deque([source])
        while queue and target not in dist:
            u = queue.popleft()
            for v in json.loads(
                self.step(json.dumps({"name": "GetNeighbors", "parameters": {"node": u}}))[1]
            ):
                if v not in dist:
                    dist[v] = dist[u] + 1
                    params = {"node": v, "distance": dist[v]}
                    self.step(json.dumps({"name": "SetDistance", "parameters": params}))
                    queue.append(v)
        res = json.loads(self.step(json.dumps({"name": "GetDistance", "parameters": {"node": target}}))[1])
        answer = res["distance"] if res["distance"] is not None else -1
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": answer}}))[1]


TASK = """An undirected graph has nodes numbered from 0; you can ask the environment for the neighbours \
of any node. Find the smallest number of edges on a path from the source node to the target node, or \
-1 if the target cannot be reached. Use Observe to see the number of nodes, the source and the target. \
Submit the number of edges (or -1) as an integer with Done."""

# fmt: off
CONFIGS = [
    {"num_nodes": 6, "edges": [[0, 1], [0, 2], [1, 3], [2, 3], [3, 4], [4, 5]], "source": 0, "target": 5},
    {"num_nodes": 7, "edges": [[0, 1], [1, 2], [2, 3], [4, 5], [5, 6]], "source": 0, "target": 6},
    {"num_nodes": 8, "edges": [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7], [0, 4]],
     "source": 0, "target": 7},
    {"num_nodes": 9, "edges": [[0, 1], [0, 2], [0, 3], [1, 4], [2, 5], [3, 6], [4, 7], [5, 7], [6, 8], [7, 8]],
     "source": 0, "target": 8},
    {"num_nodes": 10, "edges": [[i, i + 1] for i in range(9)] + [[0, 9]], "source": 2, "target": 7},
    {"num_nodes": 12, "edges": [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 11], [0, 6], [6, 7], [7, 8], [8, 9],
                                [9, 10], [10, 11], [2, 8]], "source": 0, "target": 11},
    {"num_nodes": 12, "edges": [[r * 4 + c, r * 4 + c + 1] for r in range(3) for c in range(3)]
     + [[r * 4 + c, r * 4 + c + 4] for r in range(2) for c in range(4)], "source": 0, "target": 11},
    {"num_nodes": 15, "edges": [[i, (2 * i + 1) % 15] for i in range(15)] + [[i, (i + 5) % 15] for i in range(0, 15, 3)],
     "source": 0, "target": 14},
    {"num_nodes": 16, "edges": [[i, i + 1] for i in range(7)] + [[i, i + 1] for i in range(8, 15)] + [[3, 11]],
     "source": 0, "target": 15},
    {"num_nodes": 20, "edges": [[i, (i * 3 + 1) % 20] for i in range(20)] + [[i, (i + 7) % 20] for i in range(0, 20, 2)],
     "source": 5, "target": 0},
    {"num_nodes": 24, "edges": [[r * 6 + c, r * 6 + c + 1] for r in range(4) for c in range(5) if (r + c) % 4 != 3]
     + [[r * 6 + c, r * 6 + c + 6] for r in range(3) for c in range(6) if (r * c) % 5 != 2], "source": 0,
     "target": 23},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """A random sparse graph on `size` nodes (at least 2). Usually the target is a farthest node reachable
    from the source; sometimes the graph is split so that the target cannot be reached."""
    rng = random.Random(seed)
    n = max(2, int(size))
    order = list(range(n))
    rng.shuffle(order)
    unreachable = n >= 4 and rng.random() < 0.25
    cut = rng.randint(max(2, n // 2), n - 1) if unreachable else n
    edges = set()
    for part in (order[:cut], order[cut:]):
        for i in range(1, len(part)):
            # attach each node to one of the few nodes placed just before it: long, thin trees
            j = rng.randint(max(0, i - 3), i - 1)
            edges.add((min(part[i], part[j]), max(part[i], part[j])))
        for _ in range(len(part) // 4):
            a, b = rng.sample(part, 2) if len(part) >= 2 else (part[0], part[0])
            if a != b:
                edges.add((min(a, b), max(a, b)))
    source = order[0]
    if unreachable:
        target = rng.choice(order[cut:])
    else:
        adj = [[] for _ in range(n)]
        for a, b in edges:
            adj[a].append(b)
            adj[b].append(a)
        dist = {source: 0}
        queue = deque([source])
        while queue:
            u = queue.popleft()
            for v in sorted(adj[u]):
                if v not in dist:
                    dist[v] = dist[u] + 1
                    queue.append(v)
        far = max(dist.values())
        target = min(v for v, d in dist.items() if d == far) if n > 1 else source
    return {"num_nodes": n, "edges": [list(e) for e in sorted(edges)], "source": source, "target": target}


if __name__ == "__main__":
    # test case 1: a fixed configuration
    env = ShortestPathGraphEnv.from_env_str(f"ShortestPathGraphEnv@{CONFIGS[0]}")
    print(env.solve())
    print("step count:", env.step_count)

    # test case 2: a generated configuration
    env = ShortestPathGraphEnv.from_env_str(f"ShortestPathGraphEnv@{generate_config(seed=6, size=14)}")
    print(env.solve())
    print("step count:", env.step_count)
