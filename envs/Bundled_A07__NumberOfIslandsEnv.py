import ast
import json
import math
import random

import gymnasium


class NumberOfIslandsEnv(gymnasium.Env):
    """Count the islands (4-connected groups of land cells) of a grid by flood-filling them."""

    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.FIND_UNVISITED_LAND = 1
        self.VISIT_CELL = 2
        self.GET_VISITED_COUNT = 3
        self.DONE = 4

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "FindUnvisitedLand": self.FIND_UNVISITED_LAND,
            "VisitCell": self.VISIT_CELL,
            "GetVisitedCount": self.GET_VISITED_COUNT,
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
        prefix = "NumberOfIslandsEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return NumberOfIslandsEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options: dict = {}):  # noqa: B006
        if not isinstance(options, dict):
            options = {}
        grid = options.get("grid", ["11000", "11000", "00100", "00011"])
        self.grid = [str(row) for row in grid]
        self.rows = len(self.grid)
        self.cols = max((len(row) for row in self.grid), default=0)
        # pad ragged rows with water so every row has the same width
        self.grid = [row.ljust(self.cols, "0") for row in self.grid]
        self.visited = [[False] * self.cols for _ in range(self.rows)]
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        seen = [[False] * self.cols for _ in range(self.rows)]
        islands = 0
        for r in range(self.rows):
            for c in range(self.cols):
                if self.grid[r][c] != "1" or seen[r][c]:
                    continue
                islands += 1
                seen[r][c] = True
                todo = [(r, c)]
                while todo:
                    y, x = todo.pop()
                    for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                        if 0 <= ny < self.rows and 0 <= nx < self.cols and self.grid[ny][nx] == "1":
                            if not seen[ny][nx]:
                                seen[ny][nx] = True
                                todo.append((ny, nx))
        return islands

    def _land_count(self) -> int:
        return sum(row.count("1") for row in self.grid)

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
            elif code == self.FIND_UNVISITED_LAND:
                handler = self.FindUnvisitedLand
            elif code == self.VISIT_CELL:
                handler = self.VisitCell
            elif code == self.GET_VISITED_COUNT:
                handler = self.GetVisitedCount
            else:
                handler = self.Done
            msg = handler(**params)
        except Exception as e:
            return True, f"Error: {e}"
        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show the grid: each row is a string in which '1' is land and '0' is water.

        Args:
            None

        Returns:
            str: JSON object with the grid rows and its dimensions.

        Example Output:
            "{\"grid\": [\"11000\", \"11000\", \"00100\", \"00011\"], \"rows\": 4, \"cols\": 5}"
        """
        return json.dumps({"grid": self.grid, "rows": self.rows, "cols": self.cols})

    def FindUnvisitedLand(self):
        r"""
        Find the first land cell, in row-major order, that has not been visited yet.

        Args:
            None

        Returns:
            str: JSON object whose "cell" is [row, col], or null when every land cell has been visited.

        Example Output:
            "{\"cell\": [2, 2]}"
        """
        for r in range(self.rows):
            for c in range(self.cols):
                if self.grid[r][c] == "1" and not self.visited[r][c]:
                    return json.dumps({"cell": [r, c]})
        return json.dumps({"cell": None})

    def VisitCell(self, row: int, col: int):
        r"""
        Mark a land cell as visited and list its land neighbours (up, down, left, right, in that order)
        that are still unvisited.

        Args:
            row (int): Row index, from 0 to rows - 1.
            col (int): Column index, from 0 to cols - 1.

        Returns:
            str: JSON object with the cell, whether it was already visited, and its unvisited land neighbours.

        Example Output:
            "{\"cell\": [0, 0], \"already_visited\": false, \"unvisited_land_neighbors\": [[1, 0], [0, 1]]}"
        """
        for value, label, size in ((row, "row", self.rows), (col, "col", self.cols)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{label} must be an integer, got {type(value).__name__}")
            if not 0 <= value < size:
                raise ValueError(f"{label} must be between 0 and {size - 1}, got {value}")
        if self.grid[row][col] != "1":
            raise ValueError(f"cell [{row}, {col}] is water, not land")
        already = self.visited[row][col]
        self.visited[row][col] = True
        neighbours = []
        for r, c in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)):
            if (
                0 <= r < self.rows
                and 0 <= c < self.cols
                and self.grid[r][c] == "1"
                and not self.visited[r][c]
            ):
                neighbours.append([r, c])
        return json.dumps(
            {"cell": [row, col], "already_visited": already, "unvisited_land_neighbors": neighbours}
        )

    def GetVisitedCount(self):
        r"""
        Count the visited land cells and the land cells in total.

        Args:
            None

        Returns:
            str: JSON object with visited_land and total_land.

        Example Output:
            "{\"visited_land\": 4, \"total_land\": 7}"
        """
        visited = sum(1 for r in range(self.rows) for c in range(self.cols) if self.visited[r][c])
        return json.dumps({"visited_land": visited, "total_land": self._land_count()})

    def Done(self, answer):
        r"""
        Submit the number of islands.

        Args:
            answer (int): The number of islands.

        Returns:
            str: The submitted and reference answers, and the reward.

        Example Output:
            "Your answer: 3, reference answer: 3, result: correct, reward=1"
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
        Repeatedly find an unvisited land cell and flood-fill its island with breadth-first search.

        Returns:
            str: The message returned by Done.
        """
        self.step(json.dumps({"name": "Observe", "parameters": {}}))
        islands = 0
        while True:
            found = json.loads(self.step(json.dumps({"name": "FindUnvisitedLand", "parameters": {}}))[1])
            if found["cell"] is None:
                break
            islands += 1
            queue = [found["cell"]]
            queued = {tuple(found["cell"])}
            head = 0
            while head < len(queue):
                r, c = queue[head]
                head += 1
                res = json.loads(
                    self.step(json.dumps({"name": "VisitCell", "parameters": {"row": r, "col": c}}))[1]
                )
                for cell in res["unvisited_land_neighbors"]:
                    if tuple(cell) not in queued:
                        queued.add(tuple(cell))
                        queue.append(cell)
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": islands}}))[1]


TASK = """A map is given as a grid of '1' (land) and '0' (water). An island is a group of land cells \
connected horizontally or vertically (not diagonally). Count the islands. Use Observe to see the grid; \
the environment can mark cells as visited and list a cell's unvisited land neighbours. Submit the \
number of islands as an integer with Done."""

# fmt: off
CONFIGS = [
    {"grid": ["11000", "11000", "00100", "00011"]},
    {"grid": ["11110", "11010", "11000", "00000"]},
    {"grid": ["10101", "01010", "10101"]},
    {"grid": ["111", "101", "111", "000", "111"]},
    {"grid": ["110011", "100001", "000000", "100001", "110011"]},
    {"grid": ["1110001", "1000111", "0011000", "0110011", "1100110"]},
    {"grid": ["1111111", "1000001", "1011101", "1010101", "1011101", "1000001", "1111111"]},
    {"grid": ["10011010", "11001011", "00100000", "11101111", "00001001", "01110111"]},
    {"grid": ["111000111", "110101011", "000111000", "101010101", "111000111", "001101100"]},
    {"grid": ["1101101101", "1001001001", "0111011100", "0000000011", "1110111011", "1010101010",
              "0011100111"]},
    {"grid": ["110011100111", "101010101010", "011100110011", "000011001100", "111100001111",
              "100111111001", "110000000011"]},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """A random grid with about 2 * `size` cells, each land with probability 1/2."""
    rng = random.Random(seed)
    cells = max(4, 2 * int(size))
    rows = max(2, round(math.sqrt(cells * rng.uniform(0.6, 1.4))))
    cols = max(2, math.ceil(cells / rows))
    grid = ["".join("1" if rng.random() < 0.5 else "0" for _ in range(cols)) for _ in range(rows)]
    return {"grid": grid}


if __name__ == "__main__":
    # test case 1: a fixed configuration
    env = NumberOfIslandsEnv.from_env_str(f"NumberOfIslandsEnv@{CONFIGS[0]}")
    print(env.solve())
    print("step count:", env.step_count)

    # test case 2: a generated configuration
    env = NumberOfIslandsEnv.from_env_str(f"NumberOfIslandsEnv@{generate_config(seed=8, size=15)}")
    print(env.solve())
    print("step count:", env.step_count)
